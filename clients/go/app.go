package nksip

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pb "github.com/nksip/nksip-go/gen/nksip/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// DefaultServer is the server's default gRPC address.
const DefaultServer = "127.0.0.1:50051"

// Plugin is a plugin and its options (registrar, 100rel, timers, ...).
type Plugin struct {
	Name    string
	Options map[string]string
}

// Options configure an [App]. App is required; the config fields (Listen to Pass) are the
// contract's AppConfig, equal for every instance of an app.
type Options struct {
	// App is the app's name; instances with the same name and config share the work.
	App string
	// Server is host:port of the server's gRPC endpoint; default [DefaultServer].
	Server string
	// Token is the server's shared secret, when it has one.
	Token string
	// DialOptions for the gRPC connection; default plaintext (grpc insecure credentials).
	DialOptions []grpc.DialOption

	// Listen URIs; empty: take over the server's own listeners while connected.
	Listen []string
	// From: default From of the requests the app sends.
	From string
	// Route URIs added to every request the app sends (outbound proxy).
	Route []string
	// LocalHost for Via, Contact and Record-Route.
	LocalHost string
	Timers    *pb.Timers
	Plugins   []Plugin
	// Allow, Supported, Accept and Events (accepted event packages); "": the server's defaults.
	Allow, Supported, Accept, Events string
	// Deadlines per callback by wire name (invite, get_user_pass, ...); DefaultDeadline for
	// the others (0: the server's, 5 s).
	Deadlines       map[string]time.Duration
	DefaultDeadline time.Duration
	// DeadlineReplies: what to answer when a callback's deadline passes, by wire name.
	DeadlineReplies map[string]Reply
	// Grace: how long the listeners stay open after the last instance leaves (0: 10 s).
	Grace time.Duration
	// Pass: the app's credentials for every request it sends (NkSIP sip_pass).
	Pass []Credential
	// MaxCalls: the app's limit on concurrent calls (NkSIP sip_max_calls); nil: the server's.
	MaxCalls *uint32

	// Reconnect is the policy after a broken stream (and for the first join).
	Reconnect Backoff
	// StartTimeout bounds the wait for Started after opening a stream; default 10 s.
	StartTimeout time.Duration
	// StopTimeout bounds the wait for the server to close the stream after Stop; default 2 s.
	StopTimeout time.Duration
	// Logger receives the SDK's log lines; silent by default.
	Logger *slog.Logger
	// Notify receives what the app should know that needs no answer.
	Notify Events
}

// Events are optional hooks, called from the SDK's receiving goroutine: they must not block.
type Events struct {
	// OnStarted: the app joined (or rejoined) the server.
	OnStarted func(StartedInfo)
	// OnDisconnected: the stream broke; pending requests failed. A reconnect follows unless
	// disabled.
	OnDisconnected func(error)
	// OnReconnecting: waiting delay before reconnect attempt attempt.
	OnReconnecting func(attempt int, delay time.Duration)
	// OnError: a server Error message, or the stream failing.
	OnError func(*ServerError)
	// OnCallbackError: a callback failed (error, panic, invalid answer); the SDK answered for
	// it (500 for requests).
	OnCallbackError func(kind pb.CallbackKind, err error)
	// OnCallbackExpired: a callback's deadline passed and the answer came from elsewhere.
	OnCallbackExpired func(*pb.CallbackExpired)
	// OnDialogUpdate and OnSessionUpdate: changes sent as notifications, not callbacks; the
	// server sends none today (those of the app's own requests too come to
	// Handlers.DialogUpdate and Handlers.SessionUpdate).
	OnDialogUpdate  func(DialogUpdate)
	OnSessionUpdate func(SessionUpdate)
	OnRegistration  func(*pb.RegistrationStatus)
	// OnAutoStatus: an automatic registration or ping changed state.
	OnAutoStatus func(*pb.AutoStatus)
	// OnUacEvent: a UAC event for no pending request (e.g. an extra 2xx of a forked INVITE).
	OnUacEvent func(*pb.UacEvent)
	// OnClosed: the app closed (after Stop, or when it gave up reconnecting).
	OnClosed func()
}

// StartedInfo is what the server said when the app (re)joined.
type StartedInfo struct {
	App        string   `json:"app"`
	InstanceID string   `json:"instanceId"`
	Listeners  []string `json:"listeners"`
	// ServerVersion of the server.
	ServerVersion string `json:"serverVersion"`
	// Instances of the app now connected, this one included.
	Instances uint32 `json:"instances"`
	// Reconnected: a rejoin after a broken stream.
	Reconnected bool `json:"reconnected"`
}

// ServerError is an Error message from the server, or the stream failing.
type ServerError struct {
	// Code is the contract's ErrorCode in lower camel case (invalidAnswer, configMismatch,
	// pendingPrack, ...), or "stream" when the gRPC stream itself failed (GRPCCode says how).
	Code    string
	Message string
	// Ref is the callback or command id the error is about, 0 when none.
	Ref      uint64
	GRPCCode codes.Code
}

func (e *ServerError) Error() string { return fmt.Sprintf("nksip: %s: %s", e.Code, e.Message) }

func fromProtoError(e *pb.Error) *ServerError {
	code := lowerCamel(strings.TrimPrefix(e.GetCode().String(), "ERROR_CODE_"))
	msg := e.GetMessage()
	if msg == "" {
		msg = e.GetCode().String()
	}
	return &ServerError{Code: code, Message: msg, Ref: e.GetRef()}
}

func toServerError(err error) *ServerError {
	var se *ServerError
	if errors.As(err, &se) {
		return se
	}
	if s, ok := status.FromError(err); ok && s.Code() != codes.OK {
		return &ServerError{Code: "stream", Message: s.Message(), GRPCCode: s.Code()}
	}
	if err == nil {
		return &ServerError{Code: "stream", Message: "closed by the server"}
	}
	return &ServerError{Code: "stream", Message: err.Error()}
}

func isFatal(e *ServerError) bool {
	switch e.Code {
	case "protocol", "invalidConfig", "configMismatch", "listenFailed":
		return true
	}
	switch e.GRPCCode {
	case codes.Unauthenticated, codes.PermissionDenied, codes.Unimplemented, codes.InvalidArgument:
		return true
	}
	return false
}

// ErrNotConnected is the error of what could not be sent because the app is not joined.
var ErrNotConnected = errors.New("nksip: the app is not connected")

type stream struct {
	s      grpc.BidiStreamingClient[pb.ConnectRequest, pb.ConnectResponse]
	cancel context.CancelFunc
	sendMu sync.Mutex
	done   chan struct{}
	ready  atomic.Bool
}

func (st *stream) send(m *pb.ConnectRequest) error {
	st.sendMu.Lock()
	defer st.sendMu.Unlock()
	return st.s.Send(m)
}

type queryResult struct {
	m   *pb.ConnectResponse
	err error
}

// App is a running SipApp. Create it with [Start]; it is safe for concurrent use.
type App struct {
	opts     Options
	handlers Handlers
	log      *slog.Logger
	conn     *grpc.ClientConn
	client   pb.SipAppServiceClient
	ctx      context.Context // the app's life: parent of every callback's context
	cancel   context.CancelFunc
	nextID   atomic.Uint64
	closed   chan struct{}

	mu       sync.Mutex
	stopping bool
	isClosed bool
	cur      *stream
	started  *StartedInfo
	pending  map[uint64]*Call
	queries  map[uint64]chan queryResult
	// callbacks that must keep the server's order (see Handlers)
	ordered serializer
}

// serializer runs functions one at a time per key, in the order they were given, each key
// on its own goroutine while it has work; the queues are not bounded.
type serializer struct {
	mu     sync.Mutex
	queues map[string][]func() // a key is present while its goroutine runs
}

func (s *serializer) run(key string, f func()) {
	s.mu.Lock()
	q, busy := s.queues[key]
	s.queues[key] = append(q, f)
	s.mu.Unlock()
	if busy {
		return
	}
	go func() {
		for {
			s.mu.Lock()
			q := s.queues[key]
			if len(q) == 0 {
				delete(s.queues, key)
				s.mu.Unlock()
				return
			}
			next := q[0]
			s.queues[key] = q[1:]
			s.mu.Unlock()
			next()
		}
	}()
}

// Start connects to the server, sends Start with the callbacks h implements and returns once
// the server answered Started. While the server cannot be reached it retries with the
// Reconnect policy until ctx ends; a fatal refusal (invalid config, config mismatch, listen
// failure, bad token) is returned at once.
func Start(ctx context.Context, opts Options, h Handlers) (*App, error) {
	if opts.App == "" {
		return nil, errors.New("nksip: Options.App (the app name) is required")
	}
	if opts.Server == "" {
		opts.Server = DefaultServer
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 10 * time.Second
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = 2 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dial := opts.DialOptions
	if len(dial) == 0 {
		dial = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	conn, err := grpc.NewClient(opts.Server, dial...)
	if err != nil {
		return nil, fmt.Errorf("nksip: %w", err)
	}
	a := &App{opts: opts, handlers: h, log: log, conn: conn, client: pb.NewSipAppServiceClient(conn),
		closed: make(chan struct{}), pending: map[uint64]*Call{}, queries: map[uint64]chan queryResult{},
		ordered: serializer{queues: map[string][]func(){}}}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	if err := a.open(); err != nil {
		se := toServerError(err)
		if opts.Reconnect.Disabled || isFatal(se) {
			a.close()
			return nil, se
		}
		a.log.Warn("cannot join the server yet", "error", se.Message)
		if err := a.reconnect(ctx, true); err != nil {
			a.close()
			return nil, err
		}
	}
	return a, nil
}

// Name is the app's name.
func (a *App) Name() string { return a.opts.App }

// Started is what the server said in the latest Started.
func (a *App) Started() StartedInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started == nil {
		return StartedInfo{}
	}
	return *a.started
}

// Connected tells whether the stream is up and joined.
func (a *App) Connected() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cur != nil && a.cur.ready.Load() && !a.stopping
}

// Closed is closed once the app has stopped.
func (a *App) Closed() <-chan struct{} { return a.closed }

func (a *App) startMessage() *pb.ConnectRequest {
	o := a.opts
	cfg := &pb.AppConfig{Listen: o.Listen, From: o.From, Route: o.Route, LocalHost: o.LocalHost, Timers: o.Timers,
		Allow: o.Allow, Supported: o.Supported, Accept: o.Accept, Events: o.Events,
		DefaultDeadlineMs: uint32(o.DefaultDeadline.Milliseconds()), GraceMs: uint32(o.Grace.Milliseconds()),
		Pass: toProtoPass(o.Pass), MaxCalls: o.MaxCalls}
	for _, p := range o.Plugins {
		cfg.Plugins = append(cfg.Plugins, &pb.Plugin{Name: p.Name, Options: p.Options})
	}
	if len(o.Deadlines) > 0 {
		cfg.DeadlinesMs = map[string]uint32{}
		for k, d := range o.Deadlines {
			cfg.DeadlinesMs[k] = uint32(d.Milliseconds())
		}
	}
	if len(o.DeadlineReplies) > 0 {
		cfg.DeadlineReplies = map[string]*pb.Reply{}
		for k, r := range o.DeadlineReplies {
			if p, err := r.toProto(); err == nil {
				cfg.DeadlineReplies[k] = p
			} else {
				a.log.Warn("deadline reply ignored", "callback", k, "error", err)
			}
		}
	}
	instance := ""
	if a.started != nil {
		instance = a.started.InstanceID
	}
	// Batching: the server may send what it has at one moment as one ResponseBatch (the
	// answers still go one by one: gRPC-Go's Send is cheap next to the server's per-message cost)
	return &pb.ConnectRequest{Msg: &pb.ConnectRequest_Start{Start: &pb.Start{App: o.App, Config: cfg,
		Callbacks: a.handlers.implemented(), Token: o.Token, InstanceId: instance, Batching: true}}}
}

// open opens a stream, sends Start and waits for Started; on success the stream is current
// and its receiving goroutine runs.
func (a *App) open() error {
	sctx, cancel := context.WithCancel(a.ctx)
	s, err := a.client.Connect(sctx)
	if err != nil {
		cancel()
		return err
	}
	st := &stream{s: s, cancel: cancel, done: make(chan struct{})}
	a.mu.Lock()
	start := a.startMessage()
	a.mu.Unlock()
	timer := time.AfterFunc(a.opts.StartTimeout, cancel)
	defer timer.Stop()
	if err := st.send(start); err != nil {
		cancel()
		return err
	}
	var startErr *ServerError
	for {
		m, err := s.Recv()
		if err != nil {
			cancel()
			if startErr != nil {
				return startErr
			}
			if sctx.Err() != nil && a.ctx.Err() == nil {
				return &ServerError{Code: "stream", Message: "timed out waiting for Started"}
			}
			if err == io.EOF {
				return &ServerError{Code: "stream", Message: "stream closed before Started"}
			}
			return err
		}
		switch msg := m.GetMsg().(type) {
		case *pb.ConnectResponse_Started:
			timer.Stop()
			return a.onStarted(st, msg.Started)
		case *pb.ConnectResponse_Error:
			startErr = fromProtoError(msg.Error)
		default:
			a.log.Warn("unexpected message before Started")
		}
	}
}

func (a *App) onStarted(st *stream, s *pb.Started) error {
	a.mu.Lock()
	if a.stopping {
		a.mu.Unlock()
		st.cancel()
		return &ServerError{Code: "stream", Message: "app stopped"}
	}
	info := StartedInfo{App: s.GetApp(), InstanceID: s.GetInstanceId(), Listeners: s.GetListeners(),
		ServerVersion: s.GetServerVersion(), Instances: s.GetInstances(), Reconnected: a.started != nil}
	a.started = &info
	a.cur = st
	st.ready.Store(true)
	a.mu.Unlock()
	a.log.Info("joined the server", "app", info.App, "instance", info.InstanceID, "reconnected", info.Reconnected)
	if f := a.opts.Notify.OnStarted; f != nil {
		f(info)
	}
	go a.receive(st)
	return nil
}

func (a *App) receive(st *stream) {
	defer close(st.done)
	for {
		m, err := st.s.Recv()
		if err != nil {
			st.ready.Store(false)
			st.cancel()
			if err == io.EOF {
				err = nil
			}
			a.broken(st, err)
			return
		}
		a.dispatch(st, m)
	}
}

func (a *App) broken(st *stream, err error) {
	a.mu.Lock()
	if a.stopping || a.cur != st {
		a.mu.Unlock()
		return
	}
	a.cur = nil
	a.mu.Unlock()
	se := toServerError(err)
	a.log.Warn("stream to the server broke", "error", se.Message)
	a.failPending("the stream to the server broke")
	if f := a.opts.Notify.OnDisconnected; f != nil {
		f(se)
	}
	if err != nil {
		a.emitError(se)
	}
	if a.opts.Reconnect.Disabled {
		a.close()
		return
	}
	go func() {
		if err := a.reconnect(a.ctx, false); err != nil {
			a.close()
		}
	}()
}

// reconnect retries open with backoff until it succeeds, the app stops, ctx ends or the
// policy gives up.
func (a *App) reconnect(ctx context.Context, first bool) error {
	b := a.opts.Reconnect
	for attempt := 1; ; attempt++ {
		if b.MaxAttempts > 0 && attempt > b.MaxAttempts {
			err := &ServerError{Code: "stream", Message: fmt.Sprintf("gave up after %d reconnect attempts", attempt-1)}
			a.emitError(err)
			return err
		}
		delay := b.delay(attempt)
		if f := a.opts.Notify.OnReconnecting; f != nil {
			f(attempt, delay)
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-a.ctx.Done():
			t.Stop()
			return &ServerError{Code: "stream", Message: "app stopped"}
		}
		err := a.open()
		if err == nil {
			return nil
		}
		se := toServerError(err)
		a.log.Warn("reconnect attempt failed", "attempt", attempt, "error", se.Message)
		if first && isFatal(se) {
			return se
		}
		if se.Code != "stream" {
			a.emitError(se)
		}
	}
}

func (a *App) emitError(e *ServerError) {
	a.log.Error(e.Message, "code", e.Code, "ref", e.Ref)
	if f := a.opts.Notify.OnError; f != nil {
		f(e)
	}
}

func (a *App) failPending(why string) {
	a.mu.Lock()
	calls := a.pending
	a.pending = map[uint64]*Call{}
	queries := a.queries
	a.queries = map[uint64]chan queryResult{}
	a.mu.Unlock()
	for _, c := range calls {
		c.fail(&UacError{Kind: "disconnected", Message: c.Method + " not completed: " + why})
	}
	for _, q := range queries {
		q <- queryResult{err: fmt.Errorf("nksip: command not completed: %s", why)}
	}
}

func (a *App) current() *stream {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopping || a.cur == nil || !a.cur.ready.Load() {
		return nil
	}
	return a.cur
}

func (a *App) send(m *pb.ConnectRequest) error {
	st := a.current()
	if st == nil {
		return ErrNotConnected
	}
	if err := st.send(m); err != nil {
		return fmt.Errorf("%w: %v", ErrNotConnected, err)
	}
	return nil
}

func (a *App) dispatch(st *stream, m *pb.ConnectResponse) {
	switch msg := m.GetMsg().(type) {
	case *pb.ConnectResponse_Batch:
		for _, inner := range msg.Batch.GetMessages() {
			if _, nested := inner.GetMsg().(*pb.ConnectResponse_Batch); !nested {
				a.dispatch(st, inner)
			}
		}
	case *pb.ConnectResponse_Callback:
		cb := msg.Callback
		switch cb.GetKind() {
		case pb.CallbackKind_CALLBACK_KIND_DIALOG_UPDATE, pb.CallbackKind_CALLBACK_KIND_SESSION_UPDATE:
			a.ordered.run("\x00updates", func() { a.callback(st, cb) })
		case pb.CallbackKind_CALLBACK_KIND_ROUTE, pb.CallbackKind_CALLBACK_KIND_ACK, pb.CallbackKind_CALLBACK_KIND_CANCEL,
			pb.CallbackKind_CALLBACK_KIND_AUTHORIZE, pb.CallbackKind_CALLBACK_KIND_GET_USER_PASS,
			pb.CallbackKind_CALLBACK_KIND_BRANCH_FINAL:
			a.ordered.run(cb.GetRequest().GetCallId(), func() { a.callback(st, cb) })
		default:
			go a.callback(st, cb)
		}
	case *pb.ConnectResponse_UacEvent:
		ev := msg.UacEvent
		a.mu.Lock()
		c := a.pending[ev.GetId()]
		a.mu.Unlock()
		if c == nil {
			if f := a.opts.Notify.OnUacEvent; f != nil {
				f(ev)
			}
			return
		}
		if c.event(ev) {
			a.mu.Lock()
			delete(a.pending, ev.GetId())
			a.mu.Unlock()
		}
	case *pb.ConnectResponse_DialogResult:
		a.answerQuery(msg.DialogResult.GetId(), m)
	case *pb.ConnectResponse_AuthorizedList:
		a.answerQuery(msg.AuthorizedList.GetId(), m)
	case *pb.ConnectResponse_StunResult:
		a.answerQuery(msg.StunResult.GetId(), m)
	case *pb.ConnectResponse_RegistrarResult:
		a.answerQuery(msg.RegistrarResult.GetId(), m)
	case *pb.ConnectResponse_AutoResult:
		if msg.AutoResult.GetId() == 0 {
			if f := a.opts.Notify.OnAutoStatus; f != nil {
				for _, s := range msg.AutoResult.GetEntries() {
					f(s)
				}
			}
			return
		}
		a.answerQuery(msg.AutoResult.GetId(), m)
	case *pb.ConnectResponse_Notification:
		a.notification(msg.Notification)
	case *pb.ConnectResponse_Error:
		a.emitError(fromProtoError(msg.Error))
	case *pb.ConnectResponse_Started:
		a.log.Warn("Started received twice; ignored")
	}
}

func (a *App) notification(n *pb.Notification) {
	ev := a.opts.Notify
	switch e := n.GetEvent().(type) {
	case *pb.Notification_DialogUpdate:
		if ev.OnDialogUpdate != nil {
			ev.OnDialogUpdate(toDialogUpdate(e.DialogUpdate))
		}
	case *pb.Notification_SessionUpdate:
		if ev.OnSessionUpdate != nil {
			ev.OnSessionUpdate(toSessionUpdate(e.SessionUpdate))
		}
	case *pb.Notification_CallbackExpired:
		if ev.OnCallbackExpired != nil {
			ev.OnCallbackExpired(e.CallbackExpired)
		}
	case *pb.Notification_Registration:
		if ev.OnRegistration != nil {
			ev.OnRegistration(e.Registration)
		}
	}
}

func (a *App) callback(st *stream, cb *pb.Callback) {
	ctx, cancel := a.ctx, context.CancelFunc(func() {})
	if d := cb.GetDeadlineMs(); d > 0 {
		ctx, cancel = context.WithTimeout(a.ctx, time.Duration(d)*time.Millisecond)
	}
	defer cancel()
	ans, ok, err := a.handlers.run(ctx, a, cb)
	if !ok {
		a.log.Warn("callback not implemented; not answered", "kind", cb.GetKind().String(), "id", cb.GetId())
		return
	}
	if err != nil {
		a.log.Error("callback failed", "kind", CallbackName(cb.GetKind()), "id", cb.GetId(), "error", err)
		if f := a.opts.Notify.OnCallbackError; f != nil {
			f(cb.GetKind(), err)
		}
		ans = answerOnFailure(cb.GetKind())
	}
	ans.Id = cb.GetId()
	if a.current() != st {
		a.log.Debug("stream changed before the callback finished; answer dropped", "id", cb.GetId())
		return
	}
	if err := st.send(&pb.ConnectRequest{Msg: &pb.ConnectRequest_Answer{Answer: ans}}); err != nil {
		a.log.Warn("answer not sent", "id", cb.GetId(), "error", err)
	}
}

// Reply answers a request whose callback returned [NoReply] (as [Request.Reply] does).
func (a *App) Reply(requestHandle string, r Reply) error {
	p, err := r.toProto()
	if err != nil {
		return err
	}
	return a.send(&pb.ConnectRequest{Msg: &pb.ConnectRequest_LateReply{LateReply: &pb.LateReply{
		RequestHandle: requestHandle, Reply: p}}})
}

// Stop sends Stop, closes the stream and returns once the server closed it (or ctx or the
// StopTimeout ended the wait). Pending requests fail with a "disconnected" UacError.
func (a *App) Stop(ctx context.Context) error {
	a.mu.Lock()
	if a.stopping {
		a.mu.Unlock()
		select {
		case <-a.closed:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	a.stopping = true
	st := a.cur
	a.mu.Unlock()
	a.failPending("app stopped")
	if st != nil {
		_ = st.send(&pb.ConnectRequest{Msg: &pb.ConnectRequest_Stop{Stop: &pb.Stop{}}})
		st.sendMu.Lock()
		_ = st.s.CloseSend()
		st.sendMu.Unlock()
		t := time.NewTimer(a.opts.StopTimeout)
		select {
		case <-st.done:
		case <-t.C:
			a.log.Warn("server did not close the stream after Stop; cancelling it")
		case <-ctx.Done():
		}
		t.Stop()
	}
	a.close()
	return nil
}

func (a *App) close() {
	a.mu.Lock()
	if a.isClosed {
		a.mu.Unlock()
		return
	}
	a.isClosed = true
	a.stopping = true
	a.mu.Unlock()
	a.cancel()
	a.failPending("app stopped")
	_ = a.conn.Close()
	close(a.closed)
	if f := a.opts.Notify.OnClosed; f != nil {
		f()
	}
}
