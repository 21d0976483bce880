import { addressTopology, newSite, type Platform, type Site } from '../../src/model/index.ts';
import { PRESETS, ROLE_CATALOG } from '../../src/roles/registry.ts';

export const FIXED_NOW = new Date('2026-11-25T08:00:00Z');

/** A reference platform with two sites, addressed in lab 9's /24. */
export function samplePlatform(sites: number = 2): Platform {
  const topology = addressTopology(PRESETS.reference!, '198.18.9', ROLE_CATALOG);
  const out: Site[] = [];
  const reqs = [{ domain: 'example.com' }, { domain: 'www.shop.example.org', drupal: 7, customer: 'shop' }, { domain: 'blog.example.net' }];
  for (const r of reqs.slice(0, sites)) out.push(newSite(r, out, FIXED_NOW));
  return { name: 'golden', topology, sites: out };
}
