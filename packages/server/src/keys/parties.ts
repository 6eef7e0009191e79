/**
 * Who is who in every key the server holds a share of: a 2-of-2 key, the client party 1 and the
 * server party 2.
 * @module
 */
export const CLIENT_PARTY = 1;
export const SERVER_PARTY = 2;
export const PARTIES = [CLIENT_PARTY, SERVER_PARTY];
