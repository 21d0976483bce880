export * from './types.ts';
export { addressTopology, parseTopologyShape, shapeProblems, type TopologyShape } from './topology.ts';
export { newSite, takenNames, FIRST_SITE_PORT, SITE_PORT_BLOCKS, type SiteRequest, type TakenNames } from './site.ts';
export { configId, domainProblems, slugForDomain, unixUserForSlug, shortHash, boundedName, nameAttempt, firstFreeName, dbIdentifierProblems, dbNameForSlug, dbUserForSlug, DB_NAME_MAX, DB_USER_MAX, SLUG_MAX, UNIX_USER_MAX } from './names.ts';
