package io.nksip;

import nksip.v1.Service.AuthInfo;

/**
 * NkSIP's callbacks. Override the ones you need; the SDK tells the server which ones the class
 * overrides, and the server answers every other one itself with NkSIP's default, without a
 * round trip (the defaults below say what that default is, and are what a direct call returns).
 *
 * <p>Method callbacks (invite, options, ...) run each on a thread of their own. The decisions
 * that steer a call (route, ack, cancel, authorize, getUserPass, branchFinal) run one at a time
 * per Call-ID in the order the server sent them (NkSIP's process per call), and dialogUpdate and
 * sessionUpdate one at a time in order for the whole app: keep those short. An exception (or an
 * answer that does not fit) is answered for you: 500 "SipApp Callback Failed" for route and
 * method callbacks, forbidden for authorize, unknown user for getUserPass, continue for
 * branchFinal; it is told to {@link Events#onCallbackError} and the app serves on.
 */
public interface SipApp {
  /** Decides what to do with a request (NkSIP's sip_route). Default: process. */
  default RouteDecision route(Request req) throws Exception {
    return RouteDecision.process();
  }

  /** A new INVITE. Default 603. */
  default MethodAnswer invite(Request req) throws Exception {
    return Reply.decline();
  }

  /** An in-dialog INVITE. Default: as invite. */
  default MethodAnswer reinvite(Request req) throws Exception {
    return invite(req);
  }

  /** The ACK of a 2xx the app sent. */
  default void ack(Request req) throws Exception {}

  /** Default 200. */
  default MethodAnswer bye(Request req) throws Exception {
    return Reply.ok();
  }

  /** The INVITE was cancelled; the server has answered 200 and 487 itself. */
  default void cancel(Request invite, Request cancel) throws Exception {}

  /** Default 200 (the server's adds Allow, Accept, Supported and Contact). */
  default MethodAnswer options(Request req) throws Exception {
    return Reply.ok();
  }

  /** Default 405, or registrar processing when the app has the registrar plugin. */
  default MethodAnswer register(Request req) throws Exception {
    return Reply.methodNotAllowed("");
  }

  /** Default 200. */
  default MethodAnswer info(Request req) throws Exception {
    return Reply.ok();
  }

  /** Default 603. */
  default MethodAnswer update(Request req) throws Exception {
    return Reply.decline();
  }

  /** Default 603. */
  default MethodAnswer subscribe(Request req) throws Exception {
    return Reply.decline();
  }

  /** An in-dialog SUBSCRIBE. Default 200. */
  default MethodAnswer resubscribe(Request req) throws Exception {
    return Reply.ok();
  }

  /** Default 200. */
  default MethodAnswer notify(Request req) throws Exception {
    return Reply.ok();
  }

  /** Default 603. */
  default MethodAnswer refer(Request req) throws Exception {
    return Reply.decline();
  }

  /** Default 405. */
  default MethodAnswer publish(Request req) throws Exception {
    return Reply.methodNotAllowed("");
  }

  /** Default 603. */
  default MethodAnswer message(Request req) throws Exception {
    return Reply.decline();
  }

  /** Default 200. */
  default MethodAnswer prack(Request req) throws Exception {
    return Reply.ok();
  }

  /** Allows a request or challenges it (NkSIP's sip_authorize). Default ok. */
  default AuthorizeDecision authorize(AuthInfo auth, Request req) throws Exception {
    return AuthorizeDecision.ok();
  }

  /** A user's password (NkSIP's sip_get_user_pass). Default: "" for anonymous, else unknown. */
  default UserPass getUserPass(String user, String realm, Request req) throws Exception {
    return "anonymous".equals(user) ? UserPass.password("") : UserPass.unknown();
  }

  /** A dialog changed: one the app answered, or one its own requests made. */
  default void dialogUpdate(DialogUpdate u) throws Exception {}

  /** A media session changed, on either side. */
  default void sessionUpdate(SessionUpdate u) throws Exception {}

  /** A proxy branch ended (asked for with ProxyOptions.branchEvents). Default: continue. */
  default BranchDecision branchFinal(Branch branch, Request req) throws Exception {
    return BranchDecision.continueFork();
  }
}
