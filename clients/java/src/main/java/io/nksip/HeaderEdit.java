package io.nksip;

import java.util.List;
import nksip.v1.Decisions.HeaderOp;

/** An edit of the headers of a message the server builds or forwards (the contract's HeaderOp). */
public record HeaderEdit(HeaderOp.Kind kind, String name, String value) {
  /** Appends a line after any existing ones. */
  public static HeaderEdit add(String name, String value) {
    return new HeaderEdit(HeaderOp.Kind.KIND_ADD, name, value);
  }

  /** Removes every line of the header, then adds this value (an empty value only removes). */
  public static HeaderEdit replace(String name, String value) {
    return new HeaderEdit(HeaderOp.Kind.KIND_REPLACE, name, value);
  }

  /** Removes every line of the header. */
  public static HeaderEdit remove(String name) {
    return new HeaderEdit(HeaderOp.Kind.KIND_REMOVE, name, "");
  }

  /** Puts a line before any existing ones (e.g. a Route to be visited first). */
  public static HeaderEdit insert(String name, String value) {
    return new HeaderEdit(HeaderOp.Kind.KIND_INSERT, name, value);
  }

  HeaderOp toProto() {
    return HeaderOp.newBuilder().setKind(kind).setName(name).setValue(value == null ? "" : value).build();
  }

  static List<HeaderOp> toProto(List<HeaderEdit> edits) {
    return edits.stream().map(HeaderEdit::toProto).toList();
  }
}
