package io.nksip;

import java.util.Locale;
import nksip.v1.Service;

/** A media session change (NkSIP's sip_session_update). */
public record SessionUpdate(String dialogHandle, Service.SessionUpdate.Kind kind, byte[] localSdp,
    byte[] remoteSdp) {
  static SessionUpdate of(Service.SessionUpdate u) {
    return new SessionUpdate(u.getDialogHandle(), u.getKind(), u.getLocalSdp().toByteArray(),
        u.getRemoteSdp().toByteArray());
  }

  /** start, update, stop. */
  public String kindName() {
    return Names.stripPrefix(kind.name(), "KIND_").toLowerCase(Locale.ROOT);
  }
}
