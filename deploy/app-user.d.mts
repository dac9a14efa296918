/** Creates the application user from its secret JSON when missing, and grants it row access to its database. */
export function ensureAppUser(masterUrl: string, appSecretString: string): Promise<void>;
