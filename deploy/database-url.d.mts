/** Builds `mysql://user:pass@host:port/db` (every part URL-encoded) from an RDS secret's JSON. */
export function databaseUrlFromSecret(secretString: string, env?: Record<string, string | undefined>): string;
