import fastifySwagger from '@fastify/swagger';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, jsonSchemaTransform, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { isVardError, vardError } from '../errors/index.ts';
import { isStaff, requireStaff, type Actor, type Desk } from '../desk/index.ts';
import { platformStatus } from '../platform/status.ts';
import type { RoleApiDeps, RoleContext } from '../roles/contract.ts';
import { ROLES } from '../roles/registry.ts';

export interface AppDeps {
  readonly desk: Desk;
  /** The platform this server runs beside, for the platform routes; without it they answer 404. */
  readonly platform?: () => RoleContext | undefined;
  /** Fastify's logger; off by default (tests, CLI). */
  readonly logger?: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    actor: Actor | undefined;
  }
}

/** The fixed path of the OpenAPI document. */
export const OPENAPI_PATH = '/openapi.json';

function actorOf(req: FastifyRequest): Actor {
  if (!req.actor) throw vardError('VARD_ERR_AUTH_REQUIRED');
  return req.actor;
}

const ref = z.string().min(1).max(40);
const bearer = [{ bearer: [] as string[] }];

/**
 * The HTTP API of the desk. Every route but login and the OpenAPI document needs a bearer token
 * (an API token, or a session token from POST /v1/login). Authorisation lives in the desk's
 * services, so the API, the CLI and a future web UI apply the same rules; errors leave as
 * `{ code, message, details? }`.
 */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { desk } = deps;
  const app = Fastify({ logger: deps.logger ?? false, bodyLimit: 1024 * 1024 }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.decorateRequest('actor', undefined);

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Vard service desk API', version: '1', description: 'Customers, contracts, tickets, incidents and reports of a Vard installation.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
    transform: jsonSchemaTransform,
  });

  app.setErrorHandler((err, _req, reply) => {
    if (isVardError(err)) return reply.status(err.status).send(err.toJSON());
    if (hasZodFastifySchemaValidationErrors(err)) {
      const problems = err.validation.map((v) => ({ path: `${err.validationContext ?? ''}${v.instancePath}`, message: v.message ?? 'invalid' }));
      const e = vardError('VARD_ERR_API_INVALID', [problems.map((p) => `  [${p.path}] ${p.message}`).join('\n')], { details: { problems } });
      return reply.status(400).send(e.toJSON());
    }
    const status = (err as { statusCode?: number }).statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      // fastify's own client errors (malformed JSON, body too large, wrong content type)
      return reply.status(status).send({ code: 'VARD_ERR_API_INVALID', message: (err as Error).message });
    }
    app.log.error(err);
    return reply.status(500).send({ code: 'VARD_ERR_INTERNAL', message: 'Internal error' });
  });
  app.setNotFoundHandler((req, reply) => {
    const e = vardError('VARD_ERR_API_NOT_FOUND', [req.method, req.url.split('?')[0]]);
    return reply.status(404).send(e.toJSON());
  });

  app.addHook('onRequest', async (req) => {
    const h = req.headers.authorization;
    if (!h) return;
    const m = /^Bearer\s+(\S+)$/i.exec(h);
    const actor = m ? desk.people.authenticate(m[1]!) : undefined;
    if (!actor) throw vardError('VARD_ERR_AUTH_INVALID');
    req.actor = actor;
  });

  app.get(OPENAPI_PATH, { schema: { hide: true } }, async () => app.swagger());

  app.post('/v1/login', {
    schema: { tags: ['auth'], summary: 'Password login; returns a session token valid for 12 hours', body: z.object({ email: z.string().max(254), password: z.string().max(1024) }) },
  }, async (req) => {
    const s = await desk.people.login(req.body.email, req.body.password);
    return { token: s.token, expiresAt: s.expiresAt, user: s.user };
  });

  app.get('/v1/me', { schema: { tags: ['auth'], security: bearer } }, async (req) => actorOf(req));

  app.get('/v1/customers', { schema: { tags: ['customers'], security: bearer } }, async (req) => desk.people.customers(actorOf(req)));
  app.post('/v1/customers', {
    schema: {
      tags: ['customers'],
      security: bearer,
      summary: 'Add a customer and its contract (staff)',
      body: z.object({ slug: z.string().max(40), name: z.string().max(200).optional(), mailDomains: z.array(z.string().max(253)).max(50).optional(), contractStart: z.string().optional() }),
    },
  }, async (req, reply) => reply.status(201).send(desk.addCustomer(actorOf(req), req.body)));
  app.get('/v1/customers/:customer', { schema: { tags: ['customers'], security: bearer, params: z.object({ customer: ref }) } }, async (req) =>
    desk.people.requireCustomer(actorOf(req), req.params.customer),
  );

  app.post('/v1/users', {
    schema: {
      tags: ['customers'],
      security: bearer,
      summary: 'Add a user (staff)',
      body: z.object({ email: z.string().max(254), name: z.string().max(200).optional(), role: z.enum(['staff', 'customer']), customer: z.string().optional(), password: z.string().max(1024).optional(), oncall: z.boolean().optional() }),
    },
  }, async (req, reply) => reply.status(201).send(await desk.people.addUser(actorOf(req), req.body)));

  app.get('/v1/sites', { schema: { tags: ['customers'], security: bearer, summary: "The sites the caller may see (a customer user: its own customer's)" } }, async (req) => {
    const actor = actorOf(req);
    return desk.ctx.sites().filter((s) => isStaff(actor) || s.customer === actor.customer).map((s) => ({ domain: s.domain, customer: s.customer }));
  });

  app.get('/v1/contracts/:customer', { schema: { tags: ['contracts'], security: bearer, params: z.object({ customer: ref }) } }, async (req) =>
    desk.contracts.show(actorOf(req), req.params.customer),
  );
  app.post('/v1/contracts/:customer/notice', {
    schema: { tags: ['contracts'], security: bearer, summary: 'Give notice (three months, see docs/desk.md)', params: z.object({ customer: ref }), body: z.object({ on: z.string().optional() }).nullish() },
  }, async (req) => desk.contracts.giveNotice(actorOf(req), req.params.customer, req.body?.on));
  app.post('/v1/contracts/:customer/withdraw', { schema: { tags: ['contracts'], security: bearer, params: z.object({ customer: ref }) } }, async (req) =>
    desk.contracts.withdrawNotice(actorOf(req), req.params.customer),
  );

  app.get('/v1/tickets', {
    schema: { tags: ['tickets'], security: bearer, querystring: z.object({ customer: z.string().optional(), status: z.enum(['open', 'closed']).optional(), atRisk: z.enum(['true', 'false']).optional() }) },
  }, async (req) => desk.tickets.list(actorOf(req), { customer: req.query.customer, status: req.query.status, atRisk: req.query.atRisk === 'true' }));
  app.post('/v1/tickets', {
    schema: { tags: ['tickets'], security: bearer, body: z.object({ customer: z.string().optional(), subject: z.string().max(500), body: z.string().max(200_000), requester: z.string().max(254).optional() }) },
  }, async (req, reply) => reply.status(201).send(desk.tickets.open(actorOf(req), req.body)));
  app.get('/v1/tickets/:ref', { schema: { tags: ['tickets'], security: bearer, params: z.object({ ref }) } }, async (req) => desk.tickets.show(actorOf(req), req.params.ref));
  app.post('/v1/tickets/:ref/replies', {
    schema: { tags: ['tickets'], security: bearer, summary: 'Reply: staff replies are e-mailed to the requester, customer replies are added', params: z.object({ ref }), body: z.object({ body: z.string().max(200_000) }) },
  }, async (req) => desk.tickets.reply(actorOf(req), req.params.ref, req.body.body));
  app.post('/v1/tickets/:ref/close', { schema: { tags: ['tickets'], security: bearer, params: z.object({ ref }), body: z.object({ note: z.string().max(2000).optional() }).nullish() } }, async (req) =>
    desk.tickets.close(actorOf(req), req.params.ref, req.body?.note),
  );

  app.get('/v1/incidents', {
    schema: { tags: ['incidents'], security: bearer, querystring: z.object({ customer: z.string().optional(), site: z.string().optional(), status: z.enum(['open', 'resolved']).optional() }) },
  }, async (req) => desk.incidents.list(actorOf(req), req.query));
  app.get('/v1/incidents/:ref', { schema: { tags: ['incidents'], security: bearer, params: z.object({ ref }) } }, async (req) => desk.incidents.get(actorOf(req), req.params.ref));
  app.post('/v1/incidents/:ref/ack', { schema: { tags: ['incidents'], security: bearer, params: z.object({ ref }), body: z.object({ text: z.string().max(2000).optional() }).nullish() } }, async (req) =>
    desk.incidents.ack(actorOf(req), req.params.ref, req.body?.text),
  );
  app.post('/v1/incidents/:ref/notes', { schema: { tags: ['incidents'], security: bearer, params: z.object({ ref }), body: z.object({ text: z.string().max(10_000) }) } }, async (req) =>
    desk.incidents.note(actorOf(req), req.params.ref, req.body.text),
  );
  app.post('/v1/incidents/:ref/resolve', { schema: { tags: ['incidents'], security: bearer, params: z.object({ ref }), body: z.object({ text: z.string().max(2000).optional() }).nullish() } }, async (req) =>
    desk.incidents.resolve(actorOf(req), req.params.ref, req.body?.text),
  );

  app.get('/v1/reports/monthly/:customer', {
    schema: { tags: ['reports'], security: bearer, params: z.object({ customer: ref }), querystring: z.object({ month: z.string() }) },
  }, async (req) => desk.reports.monthly(actorOf(req), req.params.customer, req.query.month));

  app.get('/v1/audit', { schema: { tags: ['audit'], security: bearer, querystring: z.object({ limit: z.coerce.number().int().min(1).max(1000).optional() }) } }, async (req) =>
    desk.auditLog(actorOf(req), req.query.limit),
  );

  // The platform: its status, and each role's own routes (operator staff only).
  const roleDeps: RoleApiDeps = {
    platform: deps.platform ?? (() => undefined),
    requireStaff: (req) => requireStaff(actorOf(req as FastifyRequest), 'see the platform'),
  };
  app.get('/v1/status', { schema: { tags: ['platform'], security: bearer, summary: 'Hosts, daemons, each role’s health, who holds the public address (operator staff only)' } }, async (req) => {
    roleDeps.requireStaff(req);
    const ctx = roleDeps.platform();
    if (!ctx) throw vardError('VARD_ERR_PLATFORM_MISSING', ['this server']);
    return platformStatus(ctx.platform, ctx.hostOf);
  });
  for (const r of ROLES) r.api?.(app, roleDeps);

  await app.ready();
  return app;
}
