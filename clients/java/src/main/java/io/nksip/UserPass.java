package io.nksip;

/** The answer to get_user_pass (NkSIP's sip_get_user_pass). */
public sealed interface UserPass permits UserPass.Password, UserPass.Accept, RawAnswer {
  /** The password, or {@code HA1!} followed by the hex HA1. */
  static UserPass password(String p) { return new Password(p); }
  /** Accept without checking. */
  static UserPass accept() { return new Accept(true); }
  /** Unknown user. */
  static UserPass unknown() { return new Accept(false); }

  record Password(String password) implements UserPass {}
  record Accept(boolean accept) implements UserPass {}
}
