package nksip

import (
	"context"
	"errors"
	"strings"

	pb "github.com/nksip/nksip-go/gen/nksip/v1"
)

// Send sends a request and returns at once with its [Call]; a request that cannot be sent
// ends the Call with a *UacError (notConnected). method is OPTIONS, REGISTER, INVITE, ...,
// PRACK or any other token.
func (a *App) Send(method string, to Target, opts *UacOptions) *Call {
	method = strings.ToUpper(method)
	if opts == nil {
		opts = &UacOptions{}
	}
	provisionals := method == "INVITE" || opts.Provisionals || opts.OnProvisional != nil
	cmd := &pb.UacCommand{Method: method, Uri: to.URI, DialogHandle: to.Dialog,
		SubscriptionHandle: to.Subscription, Options: opts.toProto(provisionals)}
	return a.sendCommand(cmd, opts.OnProvisional)
}

func (a *App) sendCommand(cmd *pb.UacCommand, onProv func(*Response)) *Call {
	cmd.Id = a.nextID.Add(1)
	c := newCall(cmd.Id, cmd.Method, onProv)
	a.mu.Lock()
	a.pending[cmd.Id] = c
	a.mu.Unlock()
	if err := a.send(&pb.ConnectRequest{Msg: &pb.ConnectRequest_Command{Command: cmd}}); err != nil {
		a.mu.Lock()
		delete(a.pending, cmd.Id)
		a.mu.Unlock()
		c.fail(&UacError{Kind: "notConnected", Message: cmd.Method + " not sent: " + err.Error()})
	}
	return c
}

// Request sends a request and waits for its final response. A request that failed before
// one returns a *UacError; ctx ending returns ctx's error (the request goes on).
func (a *App) Request(ctx context.Context, method string, to Target, opts *UacOptions) (*Response, error) {
	return a.Send(method, to, opts).Wait(ctx)
}

// Options sends OPTIONS.
func (a *App) Options(ctx context.Context, to Target, opts *UacOptions) (*Response, error) {
	return a.Request(ctx, "OPTIONS", to, opts)
}

// Register sends REGISTER to a registrar URI.
func (a *App) Register(ctx context.Context, uri string, opts *UacOptions) (*Response, error) {
	return a.Request(ctx, "REGISTER", ToURI(uri), opts)
}

// Invite sends an INVITE (a re-INVITE in a dialog). ACK a 2xx with [App.Ack] unless
// Auto2xxAck. Use [App.Send] to watch provisionals or CANCEL it.
func (a *App) Invite(ctx context.Context, to Target, opts *UacOptions) (*Response, error) {
	return a.Request(ctx, "INVITE", to, opts)
}

// Ack ACKs a 2xx to an INVITE the app sent, in its dialog.
func (a *App) Ack(ctx context.Context, dialog string, opts *UacOptions) (*Response, error) {
	return a.Request(ctx, "ACK", InDialog(dialog), opts)
}

// Bye sends BYE in a dialog.
func (a *App) Bye(ctx context.Context, dialog string, opts *UacOptions) (*Response, error) {
	return a.Request(ctx, "BYE", InDialog(dialog), opts)
}

// Info sends INFO in a dialog.
func (a *App) Info(ctx context.Context, dialog string, opts *UacOptions) (*Response, error) {
	return a.Request(ctx, "INFO", InDialog(dialog), opts)
}

// Update sends UPDATE in a dialog.
func (a *App) Update(ctx context.Context, dialog string, opts *UacOptions) (*Response, error) {
	return a.Request(ctx, "UPDATE", InDialog(dialog), opts)
}

// Prack sends PRACK for a reliable provisional response (after ManualPrack); the server
// adds the RAck.
func (a *App) Prack(ctx context.Context, dialog string, opts *UacOptions) (*Response, error) {
	return a.Request(ctx, "PRACK", InDialog(dialog), opts)
}

// Refresh is NkSIP's refresh/2: a re-INVITE with the dialog's last local SDP, version
// incremented; mode hold sends sendonly, inactive inactive, active sendrecv, keep ("")
// leaves the direction.
func (a *App) Refresh(ctx context.Context, dialog, mode string, opts *UacOptions) (*Response, error) {
	o := UacOptions{}
	if opts != nil {
		o = *opts
	}
	if mode == "" {
		mode = "keep"
	}
	o.Refresh = mode
	return a.Request(ctx, "INVITE", InDialog(dialog), &o)
}

// Message sends MESSAGE.
func (a *App) Message(ctx context.Context, to Target, opts *UacOptions) (*Response, error) {
	return a.Request(ctx, "MESSAGE", to, opts)
}

// Subscribe sends SUBSCRIBE (in a subscription: a re-SUBSCRIBE; Expires 0 ends it).
func (a *App) Subscribe(ctx context.Context, to Target, opts *UacOptions) (*Response, error) {
	return a.Request(ctx, "SUBSCRIBE", to, opts)
}

// Notify sends NOTIFY in a subscription.
func (a *App) Notify(ctx context.Context, subscription string, opts *UacOptions) (*Response, error) {
	return a.Request(ctx, "NOTIFY", InSubscription(subscription), opts)
}

// Refer sends REFER (ReferTo required); the 2xx carries the subscription handle.
func (a *App) Refer(ctx context.Context, to Target, opts *UacOptions) (*Response, error) {
	return a.Request(ctx, "REFER", to, opts)
}

// Publish sends PUBLISH (Event and Body required).
func (a *App) Publish(ctx context.Context, to Target, opts *UacOptions) (*Response, error) {
	return a.Request(ctx, "PUBLISH", to, opts)
}

// CancelHandle sends CANCEL for the INVITE with this request handle; reason and headers of
// opts are used. It returns at once with the CANCEL's Call.
func (a *App) CancelHandle(requestHandle string, opts *UacOptions) *Call {
	o := UacOptions{}
	if opts != nil {
		o = UacOptions{Reason: opts.Reason, Headers: opts.Headers}
	}
	if requestHandle == "" {
		c := newCall(a.nextID.Add(1), "CANCEL", nil)
		c.fail(&UacError{Kind: "unknownRequest", Message: "CANCEL: the INVITE has no request handle"})
		return c
	}
	return a.sendCommand(&pb.UacCommand{Method: "CANCEL", RequestHandle: requestHandle, Options: o.toProto(false)}, nil)
}

// Cancel sends CANCEL for an INVITE the app sent, once its request handle is known, and
// waits for the CANCEL's final response.
func (a *App) Cancel(ctx context.Context, invite *Call, reason string) (*Response, error) {
	h, err := invite.RequestHandle(ctx)
	if err != nil {
		return nil, err
	}
	return a.CancelHandle(h, &UacOptions{Reason: reason}).Wait(ctx)
}

// ---- questions with an id: dialogs, authorised lists, registrar, auto ----

func (a *App) ask(ctx context.Context, id uint64, m *pb.ConnectRequest) (*pb.ConnectResponse, error) {
	ch := make(chan queryResult, 1)
	a.mu.Lock()
	a.queries[id] = ch
	a.mu.Unlock()
	forget := func() {
		a.mu.Lock()
		delete(a.queries, id)
		a.mu.Unlock()
	}
	if err := a.send(m); err != nil {
		forget()
		return nil, err
	}
	select {
	case r := <-ch:
		return r.m, r.err
	case <-ctx.Done():
		forget()
		return nil, ctx.Err()
	}
}

func (a *App) answerQuery(id uint64, m *pb.ConnectResponse) {
	a.mu.Lock()
	ch := a.queries[id]
	delete(a.queries, id)
	a.mu.Unlock()
	if ch != nil {
		ch <- queryResult{m: m}
	}
}

// DialogInfo is a dialog as the server keeps it (NkSIP's dialog metadata); JSON names match
// the other SDKs, zero sequence numbers and an empty invite status are left out.
type DialogInfo struct {
	Handle    string `json:"handle"`
	CallID    string `json:"callId"`
	LocalTag  string `json:"localTag"`
	RemoteTag string `json:"remoteTag"`
	// Role: uac (the server sent the request that created it) or uas.
	Role string `json:"role"`
	// Created and Updated: ms since the epoch.
	Created      uint64   `json:"created"`
	Updated      uint64   `json:"updated"`
	LocalSeq     uint32   `json:"localSeq,omitempty"`
	RemoteSeq    uint32   `json:"remoteSeq,omitempty"`
	LocalURI     string   `json:"localUri"`
	RemoteURI    string   `json:"remoteUri"`
	LocalTarget  string   `json:"localTarget"`
	RemoteTarget string   `json:"remoteTarget"`
	RouteSet     []string `json:"routeSet"`
	Early        bool     `json:"early"`
	Secure       bool     `json:"secure"`
	InviteStatus string   `json:"inviteStatus,omitempty"`
	// InviteAnswered: when a 2xx first answered an INVITE (ms since the epoch), 0: not yet.
	InviteAnswered  uint64   `json:"inviteAnswered,omitempty"`
	InviteLocalSDP  []byte   `json:"-"`
	InviteRemoteSDP []byte   `json:"-"`
	Subscriptions   []string `json:"subscriptions"`
}

func toDialogInfo(d *pb.DialogInfo) DialogInfo {
	return DialogInfo{Handle: d.GetHandle(), CallID: d.GetCallId(), LocalTag: d.GetLocalTag(), RemoteTag: d.GetRemoteTag(),
		Role: d.GetRole(), Created: d.GetCreated(), Updated: d.GetUpdated(), LocalSeq: d.GetLocalSeq(),
		RemoteSeq: d.GetRemoteSeq(), LocalURI: d.GetLocalUri(), RemoteURI: d.GetRemoteUri(),
		LocalTarget: d.GetLocalTarget(), RemoteTarget: d.GetRemoteTarget(), RouteSet: nonNil(d.GetRouteSet()),
		Early: d.GetEarly(), Secure: d.GetSecure(), InviteStatus: d.GetInviteStatus(),
		InviteAnswered: d.GetInviteAnswered(), InviteLocalSDP: d.GetInviteLocalSdp(),
		InviteRemoteSDP: d.GetInviteRemoteSdp(), Subscriptions: nonNil(d.GetSubscriptions())}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (a *App) dialogCommand(ctx context.Context, cmd *pb.DialogCommand) (*pb.DialogResult, error) {
	cmd.Id = a.nextID.Add(1)
	m, err := a.ask(ctx, cmd.Id, &pb.ConnectRequest{Msg: &pb.ConnectRequest_DialogCommand{DialogCommand: cmd}})
	if err != nil {
		return nil, err
	}
	return m.GetDialogResult(), nil
}

// Dialog is the dialog's state as the server keeps it (NkSIP get_meta); nil when unknown.
func (a *App) Dialog(ctx context.Context, handle string) (*DialogInfo, error) {
	r, err := a.dialogCommand(ctx, &pb.DialogCommand{Op: &pb.DialogCommand_Get{Get: handle}})
	if err != nil || len(r.GetDialogs()) == 0 {
		return nil, err
	}
	d := toDialogInfo(r.GetDialogs()[0])
	return &d, nil
}

// Dialogs is every dialog of a Call-ID (NkSIP get_all/2).
func (a *App) Dialogs(ctx context.Context, callID string) ([]DialogInfo, error) {
	r, err := a.dialogCommand(ctx, &pb.DialogCommand{Op: &pb.DialogCommand_List{List: callID}})
	if err != nil {
		return nil, err
	}
	out := make([]DialogInfo, 0, len(r.GetDialogs()))
	for _, d := range r.GetDialogs() {
		out = append(out, toDialogInfo(d))
	}
	return out, nil
}

// StopDialog stops a dialog at once, without a BYE (NkSIP nksip_dialog:stop/1); the stop
// comes as a dialog update. It fails for an unknown dialog.
func (a *App) StopDialog(ctx context.Context, handle string) error {
	r, err := a.dialogCommand(ctx, &pb.DialogCommand{Op: &pb.DialogCommand_Stop{Stop: handle}})
	if err != nil {
		return err
	}
	if r.GetError() != "" {
		return errors.New("nksip: " + r.GetError())
	}
	return nil
}

// AuthorizedList is the sources (udp:127.0.0.1:5070) authorised in a dialog (NkSIP
// get_authorized_list); found is false for an unknown or ended dialog. clear empties the
// list and returns what it held.
func (a *App) AuthorizedList(ctx context.Context, dialog string, clear bool) (sources []string, found bool, err error) {
	id := a.nextID.Add(1)
	m, err := a.ask(ctx, id, &pb.ConnectRequest{Msg: &pb.ConnectRequest_AuthorizedList{AuthorizedList: &pb.AuthorizedListRequest{
		Id: id, DialogHandle: dialog, Clear: clear}}})
	if err != nil {
		return nil, false, err
	}
	l := m.GetAuthorizedList()
	return l.GetSources(), l.GetFound(), nil
}

// StunAddress is an address and port a STUN Binding request found.
type StunAddress struct {
	Address string
	Port    uint32
}

// StunInfo is what a STUN Binding request found: the listener it left from and the address
// the STUN server saw (the public one when a NAT lies between).
type StunInfo struct {
	Local, Public StunAddress
}

// Stun sends a STUN Binding request (NkSIP's nksip_uac:stun) from one of the app's UDP
// listeners (the server's when it has none) to uri: sip:host:port, host:port or host (port
// 3478; every nksip-server UDP listener answers STUN on its SIP port). The error is a
// *UacError: invalidUri, or serviceUnavailable when nothing answered.
func (a *App) Stun(ctx context.Context, uri string) (StunInfo, error) {
	id := a.nextID.Add(1)
	m, err := a.ask(ctx, id, &pb.ConnectRequest{Msg: &pb.ConnectRequest_Stun{Stun: &pb.StunCommand{Id: id, Uri: uri}}})
	if err != nil {
		return StunInfo{}, err
	}
	r := m.GetStunResult()
	if r.GetError() != "" {
		kind := pb.UacErrorKind_UAC_ERROR_KIND_SERVICE_UNAVAILABLE
		if r.GetErrorKind() == pb.UacErrorKind_UAC_ERROR_KIND_INVALID_URI {
			kind = r.GetErrorKind()
		}
		return StunInfo{}, &UacError{Kind: uacErrorKind(kind), Message: r.GetError()}
	}
	return StunInfo{Local: StunAddress{r.GetLocalAddress(), r.GetLocalPort()},
		Public: StunAddress{r.GetPublicAddress(), r.GetPublicPort()}}, nil
}

// Registrar is the app's own registrar (registrar plugin): NkSIP's nksip_registrar API.
func (a *App) Registrar() Registrar { return Registrar{a} }

// Registrar asks the app's registrar over its stream.
type Registrar struct{ a *App }

func (r Registrar) ask(ctx context.Context, op pb.RegistrarCommand_Op, aor, contact string) (*pb.RegistrarResult, error) {
	id := r.a.nextID.Add(1)
	m, err := r.a.ask(ctx, id, &pb.ConnectRequest{Msg: &pb.ConnectRequest_Registrar{Registrar: &pb.RegistrarCommand{
		Id: id, Op: op, Aor: aor, Contact: contact}}})
	if err != nil {
		return nil, err
	}
	res := m.GetRegistrarResult()
	if res.GetError() != "" {
		return nil, errors.New("nksip: registrar: " + res.GetError())
	}
	return res, nil
}

// Find is the AOR's contact URIs, highest q first, then newest first.
func (r Registrar) Find(ctx context.Context, aor string) ([]string, error) {
	res, err := r.ask(ctx, pb.RegistrarCommand_OP_FIND, aor, "")
	if err != nil {
		return nil, err
	}
	return nonNil(res.GetUris()), nil
}

// QFind is the AOR's contacts grouped by q, highest first, ready for [Proxy].
func (r Registrar) QFind(ctx context.Context, aor string) (UriSet, error) {
	res, err := r.ask(ctx, pb.RegistrarCommand_OP_QFIND, aor, "")
	if err != nil {
		return nil, err
	}
	set := UriSet{}
	for _, g := range res.GetUriSet() {
		set = append(set, g.GetUris())
	}
	return set, nil
}

// Delete removes the AOR's bindings, or only contact's ("" : all); false when nothing was.
func (r Registrar) Delete(ctx context.Context, aor, contact string) (bool, error) {
	res, err := r.ask(ctx, pb.RegistrarCommand_OP_DELETE, aor, contact)
	if err != nil {
		return false, err
	}
	return res.GetDeleted(), nil
}

// Clear removes every binding of every AOR of this app.
func (r Registrar) Clear(ctx context.Context) error {
	_, err := r.ask(ctx, pb.RegistrarCommand_OP_CLEAR, "", "")
	return err
}

// Auto runs an AutoCommand (automatic registrations and pings kept by the server for this
// instance, NkSIP nksip_uac_auto_register) and returns its entries. The command's id is set
// here.
func (a *App) Auto(ctx context.Context, cmd *pb.AutoCommand) ([]*pb.AutoStatus, error) {
	cmd.Id = a.nextID.Add(1)
	m, err := a.ask(ctx, cmd.Id, &pb.ConnectRequest{Msg: &pb.ConnectRequest_Auto{Auto: cmd}})
	if err != nil {
		return nil, err
	}
	res := m.GetAutoResult()
	if res.GetError() != "" {
		return nil, errors.New("nksip: auto: " + res.GetError())
	}
	return res.GetEntries(), nil
}
