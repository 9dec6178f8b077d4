package io.nksip;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import nksip.v1.Sip;

/** What requests and responses share: the parsed essentials and every header in order. */
public abstract sealed class Message permits Request, Response {
  private static final Map<String, String> COMPACT = Map.ofEntries(
      Map.entry("a", "accept-contact"), Map.entry("b", "referred-by"), Map.entry("c", "content-type"),
      Map.entry("d", "request-disposition"), Map.entry("e", "content-encoding"), Map.entry("f", "from"),
      Map.entry("i", "call-id"), Map.entry("j", "reject-contact"), Map.entry("k", "supported"),
      Map.entry("l", "content-length"), Map.entry("m", "contact"), Map.entry("n", "identity-info"),
      Map.entry("o", "event"), Map.entry("r", "refer-to"), Map.entry("s", "subject"), Map.entry("t", "to"),
      Map.entry("u", "allow-events"), Map.entry("v", "via"), Map.entry("x", "session-expires"),
      Map.entry("y", "identity"));

  private final Address from;
  private final Address to;
  private final String callId;
  private final int cseq;
  private final String cseqMethod;
  private final List<Sip.Via> vias;
  private final List<Address> contacts;
  private final List<Sip.Header> headers;
  private final byte[] body;
  private final String contentType;
  private final Sip.TransportInfo transport;

  Message(Sip.NameAddr from, Sip.NameAddr to, String callId, int cseq, String cseqMethod, List<Sip.Via> vias,
      List<Sip.NameAddr> contacts, List<Sip.Header> headers, byte[] body, String contentType,
      Sip.TransportInfo transport) {
    this.from = Address.of(from);
    this.to = Address.of(to);
    this.callId = callId;
    this.cseq = cseq;
    this.cseqMethod = cseqMethod;
    this.vias = vias;
    this.contacts = Address.of(contacts);
    this.headers = headers;
    this.body = body;
    this.contentType = contentType;
    this.transport = transport;
  }

  public Address from() { return from; }
  public Address to() { return to; }
  public String callId() { return callId; }
  public int cseq() { return cseq; }
  public String cseqMethod() { return cseqMethod; }
  public List<Sip.Via> vias() { return vias; }
  public List<Address> contacts() { return contacts; }
  /** Every header in order: lowercase full names, values as received. */
  public List<Sip.Header> headers() { return headers; }
  public byte[] body() { return body.clone(); }
  /** The body as UTF-8 text. */
  public String text() { return new String(body, StandardCharsets.UTF_8); }
  public String contentType() { return contentType; }
  public Sip.TransportInfo transport() { return transport; }

  static String canonicalName(String name) {
    String n = name.toLowerCase(Locale.ROOT);
    return COMPACT.getOrDefault(n, n);
  }

  /** The first value of a header (any case, compact forms allowed), or null when absent. */
  public String header(String name) {
    String n = canonicalName(name);
    for (Sip.Header h : headers) {
      if (h.getName().equals(n)) return h.getValue();
    }
    return null;
  }

  /** The first value of a header, or {@code def} when absent. */
  public String header(String name, String def) {
    String v = header(name);
    return v == null ? def : v;
  }

  public boolean hasHeader(String name) {
    return header(name) != null;
  }

  /** Every line of a header, in order. */
  public List<String> headerValues(String name) {
    String n = canonicalName(name);
    List<String> out = new ArrayList<>();
    for (Sip.Header h : headers) {
      if (h.getName().equals(n)) out.add(h.getValue());
    }
    return out;
  }
}
