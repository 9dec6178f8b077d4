// Digest authentication (RFC 2617, RFC 7616, RFC 8760): NkSIP's nksip_auth (server side)
// and nksip_uac_auto_auth (client side), as pure logic for the cores to wire.
export {
  type AnswerOptions,
  type AuthAnswer,
  type AuthRetry,
  answerChallenge,
  authLines,
  challenges,
  type DigestChallenge,
  findPass,
  type Pass,
  UacAuth,
  type UacAuthOptions,
} from './client.js';
export {
  type DigestAlgorithm,
  type DigestHash,
  digestResponse,
  HA1_PREFIX,
  hashHex,
  isHa1,
  makeHa1,
  parseAlgorithm,
} from './digest.js';
export { type AuthSource, NonceIssuer, type NonceStatus } from './nonce.js';
export {
  Authenticator,
  type AuthenticatorOptions,
  type AuthFailure,
  type AuthKind,
  type AuthResult,
  type ChallengeOptions,
  credentials,
  type DigestCredential,
  defaultGetUserPass,
  defaultRealm,
  type GetUserPass,
  uriMatches,
} from './server.js';
