package io.nksip;

/** One proxy branch's final response: its target URI and the branches still pending. */
public record Branch(String uri, Response response, int pending) {}
