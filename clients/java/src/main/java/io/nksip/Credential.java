package io.nksip;

import java.util.List;
import nksip.v1.Uac;

/**
 * Credentials the server uses to answer 401/407 challenges (NkSIP's sip_pass).
 *
 * @param realm empty for any realm
 * @param password the password, or {@code HA1!} followed by the hex HA1
 */
public record Credential(String realm, String user, String password) {
  public Credential {
    realm = realm == null ? "" : realm;
    user = user == null ? "" : user;
    password = password == null ? "" : password;
  }

  /** A password for any realm and user. */
  public static Credential password(String password) {
    return new Credential("", "", password);
  }

  Uac.Credential toProto() {
    return Uac.Credential.newBuilder().setRealm(realm).setUser(user).setPassword(password).build();
  }

  static List<Uac.Credential> toProto(List<Credential> cs) {
    return cs.stream().map(Credential::toProto).toList();
  }
}
