/**
 * Size limits on derived text fields. The raw report is stored in full by the store, so
 * capping a field of the normalized record loses nothing; it keeps one finding far below
 * DynamoDB's 400 KB item limit even when a console sends a 10 MB description.
 */

/** Longest `description` kept on a finding; longer ones end in `…` and set `descriptionTruncated`. */
export const DESCRIPTION_MAX_CHARS = 8_192;

/** Longest value kept for every other text field (titles, links, statuses, package names). */
export const TEXT_MAX_CHARS = 1_024;

/**
 * Longest finding key, in UTF-8 bytes. DynamoDB key attributes hold at most 1,024 bytes (sort
 * key) and the store prefixes the finding key with the image's; longer keys are shortened to a
 * prefix plus the SHA-256 of the whole key, which stays unique and stable.
 */
export const FINDING_KEY_MAX_BYTES = 512;

/**
 * Longest image key (`registry/repo:tag`) in UTF-8 bytes. Docker caps a repository path at 255
 * characters and a tag at 128; a report naming something longer is not a real image, and its
 * key would not fit DynamoDB's key limits once the store adds the console id.
 */
export const IMAGE_KEY_MAX_BYTES = 768;
