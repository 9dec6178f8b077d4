package nksip

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// SDP helpers (NkSIP's nksip_sdp new and answer): they work on SDP text and keep every line
// they do not change, in its order.

// SDPMedia is one m= section of a new offer.
type SDPMedia struct {
	// Media: audio (default), video, ...
	Media string
	Port  int
	// Formats: RTP payload formats; rtpmap lines are added for the static ones known here.
	Formats []string
	// Direction: sendrecv (default), sendonly, recvonly, inactive.
	Direction string
}

var staticRtpmap = map[string]string{"0": "PCMU/8000", "3": "GSM/8000", "4": "G723/8000",
	"8": "PCMA/8000", "9": "G722/8000", "18": "G729/8000"}

var directions = []string{"a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive"}

func sdpLines(sdp string) []string {
	ls := regexp.MustCompile(`\r?\n`).Split(sdp, -1)
	for len(ls) > 0 && ls[len(ls)-1] == "" {
		ls = ls[:len(ls)-1]
	}
	return ls
}

func ipVersion(host string) string {
	if strings.Contains(host, ":") {
		return "IP6"
	}
	return "IP4"
}

func sdpHead(user, host string, id int64) []string {
	if host == "" {
		host = "127.0.0.1"
	}
	if user == "" {
		user = "-"
	}
	return []string{"v=0", fmt.Sprintf("o=%s %d %d IN %s %s", user, id, id, ipVersion(host), host), "s=-",
		fmt.Sprintf("c=IN %s %s", ipVersion(host), host), "t=0 0"}
}

// NewSDP is a new offer (NkSIP nksip_sdp:new/2) from host ("": 127.0.0.1) with o= user
// ("": -); no media means one audio stream on port 40000 with PCMU and PCMA.
func NewSDP(user, host string, media ...SDPMedia) []byte {
	out := sdpHead(user, host, time.Now().Unix())
	if len(media) == 0 {
		media = []SDPMedia{{Port: 40000, Formats: []string{"0", "8"}}}
	}
	for _, m := range media {
		kind, dir, formats := m.Media, m.Direction, m.Formats
		if kind == "" {
			kind = "audio"
		}
		if dir == "" {
			dir = "sendrecv"
		}
		if len(formats) == 0 {
			formats = []string{"0"}
		}
		out = append(out, fmt.Sprintf("m=%s %d RTP/AVP %s", kind, m.Port, strings.Join(formats, " ")))
		for _, f := range formats {
			if r, ok := staticRtpmap[f]; ok {
				out = append(out, fmt.Sprintf("a=rtpmap:%s %s", f, r))
			}
		}
		out = append(out, "a="+dir)
	}
	return []byte(strings.Join(out, "\r\n") + "\r\n")
}

var fmtLine = regexp.MustCompile(`^a=(?:rtpmap|fmtp):(\S+)`)

// AnswerSDP answers offer (RFC 3264 §6): the same m= sections in order, each keeping every
// offered format on our port (from port, 2 apart); the direction answers the offered one.
func AnswerSDP(offer []byte, user, host string, port int) []byte {
	out := sdpHead(user, host, time.Now().Unix())
	ls := sdpLines(string(offer))
	sessionDir := ""
	for _, l := range ls {
		if strings.HasPrefix(l, "m=") {
			break
		}
		if slices.Contains(directions, l) {
			sessionDir = l
		}
	}
	for i, l := range ls {
		if !strings.HasPrefix(l, "m=") {
			continue
		}
		f := strings.Fields(l[2:])
		if len(f) < 3 {
			continue
		}
		media, proto, formats := f[0], f[2], f[3:]
		var block []string
		for j := i + 1; j < len(ls) && !strings.HasPrefix(ls[j], "m="); j++ {
			block = append(block, ls[j])
		}
		if len(formats) == 0 {
			out = append(out, fmt.Sprintf("m=%s 0 %s 0", media, proto))
			continue
		}
		out = append(out, fmt.Sprintf("m=%s %d %s %s", media, port, proto, strings.Join(formats, " ")))
		port += 2
		dir := sessionDir
		for _, b := range block {
			if m := fmtLine.FindStringSubmatch(b); m != nil && slices.Contains(formats, m[1]) {
				out = append(out, b)
			}
			if slices.Contains(directions, b) {
				dir = b
			}
		}
		switch dir {
		case "a=sendonly":
			dir = "a=recvonly"
		case "a=recvonly":
			dir = "a=sendonly"
		case "":
			dir = "a=sendrecv"
		}
		out = append(out, dir)
	}
	return []byte(strings.Join(out, "\r\n") + "\r\n")
}

var originVersion = regexp.MustCompile(`(?m)^o=\S+ \S+ (\d+)`)

// SDPVersion is the o= session version of an SDP body, "" when none.
func SDPVersion(sdp []byte) string {
	if m := originVersion.FindSubmatch(sdp); m != nil {
		return string(m[1])
	}
	return ""
}
