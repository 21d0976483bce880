export { buildApp, OPENAPI_PATH } from './app.ts';
export type { AppDeps } from './app.ts';
export { startServer } from './server.ts';
export type { ServerOptions, RunningServer } from './server.ts';
