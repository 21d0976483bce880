export * from './types.ts';
export { addressTopology, parseTopologyShape, shapeProblems, type TopologyShape } from './topology.ts';
export { newSite, FIRST_SITE_PORT, type SiteRequest } from './site.ts';
export { configId, domainProblems, slugForDomain, unixUserForSlug, shortHash, boundedName, dbIdentifierProblems, dbNameForSlug, dbUserForSlug, DB_NAME_MAX, DB_USER_MAX } from './names.ts';
