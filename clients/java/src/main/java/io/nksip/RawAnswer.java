package io.nksip;

import nksip.v1.Service.CallbackAnswer;

/**
 * A CallbackAnswer sent as given (its id is set for you), whatever the callback: for tests of
 * what the server does with an answer that does not fit.
 */
public record RawAnswer(CallbackAnswer answer)
    implements MethodAnswer, RouteDecision, AuthorizeDecision, UserPass, BranchDecision {}
