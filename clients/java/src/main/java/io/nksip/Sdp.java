package io.nksip;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Small SDP helpers: an offer, an answer to an offer, and the o= version of a body. */
public final class Sdp {
  private Sdp() {}

  /** One m= line of an offer: media (audio), port, RTP/AVP formats, direction (sendrecv). */
  public record Media(String media, int port, List<String> formats, String direction) {
    public static Media audio(int port, String... formats) {
      return new Media("audio", port, List.of(formats), "sendrecv");
    }
  }

  private static final Map<String, String> STATIC_RTPMAP = Map.of("0", "PCMU/8000", "3", "GSM/8000", "4",
      "G723/8000", "8", "PCMA/8000", "9", "G722/8000", "18", "G729/8000");
  private static final List<String> DIRECTIONS = List.of("a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive");
  private static final Pattern FMT = Pattern.compile("^a=(?:rtpmap|fmtp):(\\S+)");
  private static final Pattern ORIGIN = Pattern.compile("(?m)^o=\\S+ \\S+ (\\d+)");

  private static List<String> head(String user, String host, long id) {
    if (host == null || host.isEmpty()) host = "127.0.0.1";
    if (user == null || user.isEmpty()) user = "-";
    String ip = host.contains(":") ? "IP6" : "IP4";
    return new ArrayList<>(List.of("v=0", "o=" + user + " " + id + " " + id + " IN " + ip + " " + host, "s=-",
        "c=IN " + ip + " " + host, "t=0 0"));
  }

  private static byte[] join(List<String> lines) {
    return (String.join("\r\n", lines) + "\r\n").getBytes(StandardCharsets.UTF_8);
  }

  /** An offer (no media: audio on port 40000, PCMU and PCMA). */
  public static byte[] offer(String user, String host, Media... media) {
    List<String> out = head(user, host, System.currentTimeMillis() / 1000);
    List<Media> ms = media.length == 0 ? List.of(Media.audio(40000, "0", "8")) : Arrays.asList(media);
    for (Media m : ms) {
      List<String> formats = m.formats().isEmpty() ? List.of("0") : m.formats();
      out.add("m=" + (m.media() == null ? "audio" : m.media()) + " " + m.port() + " RTP/AVP " + String.join(" ", formats));
      for (String f : formats) {
        if (STATIC_RTPMAP.containsKey(f)) out.add("a=rtpmap:" + f + " " + STATIC_RTPMAP.get(f));
      }
      out.add("a=" + (m.direction() == null || m.direction().isEmpty() ? "sendrecv" : m.direction()));
    }
    return join(out);
  }

  /** An answer to an offer: every m= line accepted with the same formats from port on, directions mirrored. */
  public static byte[] answer(byte[] offer, String user, String host, int port) {
    List<String> out = head(user, host, System.currentTimeMillis() / 1000);
    List<String> ls = new ArrayList<>(Arrays.asList(new String(offer, StandardCharsets.UTF_8).split("\r?\n")));
    while (!ls.isEmpty() && ls.get(ls.size() - 1).isEmpty()) ls.remove(ls.size() - 1);
    String sessionDir = "";
    for (String l : ls) {
      if (l.startsWith("m=")) break;
      if (DIRECTIONS.contains(l)) sessionDir = l;
    }
    for (int i = 0; i < ls.size(); i++) {
      String l = ls.get(i);
      if (!l.startsWith("m=")) continue;
      String[] f = l.substring(2).trim().split("\\s+");
      if (f.length < 3) continue;
      List<String> formats = Arrays.asList(f).subList(3, f.length);
      if (formats.isEmpty()) {
        out.add("m=" + f[0] + " 0 " + f[2] + " 0");
        continue;
      }
      out.add("m=" + f[0] + " " + port + " " + f[2] + " " + String.join(" ", formats));
      port += 2;
      String dir = sessionDir;
      for (int j = i + 1; j < ls.size() && !ls.get(j).startsWith("m="); j++) {
        String b = ls.get(j);
        Matcher m = FMT.matcher(b);
        if (m.find() && formats.contains(m.group(1))) out.add(b);
        if (DIRECTIONS.contains(b)) dir = b;
      }
      out.add(switch (dir) {
        case "a=sendonly" -> "a=recvonly";
        case "a=recvonly" -> "a=sendonly";
        case "" -> "a=sendrecv";
        default -> dir;
      });
    }
    return join(out);
  }

  /** The session version of the o= line, empty when there is none. */
  public static String version(byte[] sdp) {
    if (sdp == null) return "";
    Matcher m = ORIGIN.matcher(new String(sdp, StandardCharsets.UTF_8));
    return m.find() ? m.group(1) : "";
  }
}
