// hello: the ten-line SipApp of docs/java-sdk.md. It names no listen URI, so while it is
// connected it serves the server's own listeners.
//
//   NKSIP_SERVER=127.0.0.1:50051 java -jar examples/java/hello/target/nksip-hello.jar
package io.nksip.hello;

import io.nksip.App;
import io.nksip.AppOptions;
import io.nksip.MethodAnswer;
import io.nksip.Reply;
import io.nksip.Request;
import io.nksip.SipApp;

public final class Hello implements SipApp {
  @Override
  public MethodAnswer options(Request req) {
    return Reply.ok().withHeader("x-app", "hello");
  }

  @Override
  public MethodAnswer invite(Request req) {
    return req.hasHeader("x-busy") ? Reply.busy() : Reply.decline();
  }

  public static void main(String[] args) {
    String server = System.getenv().getOrDefault("NKSIP_SERVER", AppOptions.DEFAULT_SERVER);
    App app = App.start(new AppOptions("hello").server(server), new Hello());
    Runtime.getRuntime().addShutdownHook(new Thread(app::close));
    app.closed().join();
  }
}
