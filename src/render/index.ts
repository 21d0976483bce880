/** What every renderer produces and every driver applies: config sets. The renderers live in their roles. */
export * from './types.ts';
