export * from './types.ts';
export { PRESETS, addressTopology, parseTopologyShape, shapeProblems, type TopologyShape } from './topology.ts';
export { newSite, FIRST_SITE_PORT, type SiteRequest } from './site.ts';
export { configId, domainProblems, slugForDomain, unixUserForSlug, shortHash, boundedName } from './names.ts';
