package io.nksip;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import nksip.v1.Service.RegistrarCommand;

/** NkSIP's nksip_registrar API on the app's own registrar (the app needs the registrar plugin). */
public final class Registrar {
  private final App app;

  Registrar(App app) {
    this.app = app;
  }

  private CompletableFuture<nksip.v1.Service.RegistrarResult> ask(RegistrarCommand.Op op, String aor, String contact) {
    return app.registrarCommand(RegistrarCommand.newBuilder().setOp(op).setAor(aor).setContact(contact));
  }

  /** The AOR's contact URIs, highest q first, then newest first. */
  public CompletableFuture<List<String>> find(String aor) {
    return ask(RegistrarCommand.Op.OP_FIND, aor, "").thenApply(r -> List.copyOf(r.getUrisList()));
  }

  /** The AOR's contacts as a URI set, one group per q value, highest first (for a proxy decision). */
  public CompletableFuture<UriSet> qfind(String aor) {
    return ask(RegistrarCommand.Op.OP_QFIND, aor, "")
        .thenApply(r -> new UriSet(r.getUriSetList().stream().map(g -> List.copyOf(g.getUrisList())).toList()));
  }

  /** Removes the AOR's bindings, or only the one with this contact URI (null or empty: all). */
  public CompletableFuture<Boolean> delete(String aor, String contact) {
    return ask(RegistrarCommand.Op.OP_DELETE, aor, contact == null ? "" : contact).thenApply(r -> r.getDeleted());
  }

  /** Removes every binding of every AOR. */
  public CompletableFuture<Void> clear() {
    return ask(RegistrarCommand.Op.OP_CLEAR, "", "").thenApply(r -> null);
  }
}
