package io.nksip;

import java.util.Locale;
import nksip.v1.Service.CallbackKind;

/** The names the SDKs print for the contract's enums. */
final class Names {
  private Names() {}

  /** FOO_BAR_BAZ → fooBarBaz. */
  static String lowerCamel(String s) {
    String[] parts = s.toLowerCase(Locale.ROOT).split("_");
    StringBuilder out = new StringBuilder(parts[0]);
    for (int i = 1; i < parts.length; i++) {
      if (!parts[i].isEmpty()) out.append(Character.toUpperCase(parts[i].charAt(0))).append(parts[i].substring(1));
    }
    return out.toString();
  }

  static String stripPrefix(String s, String prefix) {
    return s.startsWith(prefix) ? s.substring(prefix.length()) : s;
  }

  /** The lowercase wire name of a callback (invite, get_user_pass, ...). */
  static String callback(CallbackKind k) {
    return stripPrefix(k.name(), "CALLBACK_KIND_").toLowerCase(Locale.ROOT);
  }
}
