// A measuring device, not part of the server: UDP for one IPv4 socket read with recvmmsg(2)
// and written with sendmmsg(2), one call into JavaScript per batch of datagrams instead of
// one per datagram. bench/stub-options-server.mjs --mmsg answers OPTIONS over it, so the load
// benchmark shows what Node's dgram costs per datagram against batched system calls
// (bench/README.md, "options-load.mjs"). Built at run time by that script with gcc against the
// running node's own headers (N-API, libuv); nothing here is installed or committed built.
//
// open(port, onBatch) binds 127.0.0.1:port and returns { rx, meta }: the receive arena
// (BATCH slots of DGRAM bytes) and, per datagram of a batch, [length, port, IPv4 address].
// onBatch(n) runs once per recvmmsg with n datagrams; they are valid until it returns (a
// datagram over DGRAM bytes is cut short: OPTIONS never are).
// send(buffer, port, address) queues a copy during onBatch (sent by one sendmmsg when it
// returns) and sends at once outside it.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <node_api.h>
#include <string.h>
#include <sys/socket.h>
#include <uv.h>

#define BATCH 64
#define DGRAM 4096
/* batches read per wake-up before the loop gets its turn again */
#define ROUNDS 8

static int fd = -1;
static uv_poll_t poll_handle;
static napi_env g_env;
static napi_ref on_batch;
static napi_async_context async_ctx;
static int in_batch = 0;

static char rx[BATCH * DGRAM];
static int32_t meta[BATCH * 3];
static struct mmsghdr rmsgs[BATCH];
static struct iovec riov[BATCH];
static struct sockaddr_in raddr[BATCH];

static char tx[BATCH * DGRAM];
static struct mmsghdr smsgs[BATCH];
static struct iovec siov[BATCH];
static struct sockaddr_in saddr[BATCH];
static int queued = 0;

static void flush(void) {
  int off = 0;
  while (off < queued) {
    int r = sendmmsg(fd, smsgs + off, queued - off, 0);
    if (r < 0) off++; /* the datagram at `off` failed (its errno): drop it, as UDP may */
    else off += r;
  }
  queued = 0;
}

static void on_readable(uv_poll_t* h, int status, int events) {
  (void)h;
  (void)events;
  if (status < 0) return;
  napi_handle_scope scope;
  napi_open_handle_scope(g_env, &scope);
  napi_value cb, recv, argv[1], ret;
  napi_get_reference_value(g_env, on_batch, &cb);
  napi_get_global(g_env, &recv);
  for (int round = 0; round < ROUNDS; round++) {
    /* recvmmsg writes each address length back: the rest of the headers stays as set up */
    for (int i = 0; i < BATCH; i++) rmsgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
    int n = recvmmsg(fd, rmsgs, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) break;
    for (int i = 0; i < n; i++) {
      meta[i * 3] = (int32_t)rmsgs[i].msg_len;
      meta[i * 3 + 1] = ntohs(raddr[i].sin_port);
      meta[i * 3 + 2] = (int32_t)ntohl(raddr[i].sin_addr.s_addr);
    }
    napi_create_int32(g_env, n, &argv[0]);
    in_batch = 1;
    napi_make_callback(g_env, async_ctx, recv, cb, 1, argv, &ret);
    in_batch = 0;
    flush();
    if (n < BATCH) break;
  }
  napi_close_handle_scope(g_env, scope);
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t port;
  napi_get_value_int32(env, argv[0], &port);
  fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  int size = 4 << 20; /* as nksip-server and Kamailio's MAXBUF ask */
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, (struct sockaddr*)&a, sizeof a) < 0) {
    napi_throw_error(env, NULL, "cannot bind 127.0.0.1 to that port");
    return NULL;
  }
  for (int i = 0; i < BATCH; i++) {
    riov[i].iov_base = rx + i * DGRAM;
    riov[i].iov_len = DGRAM;
    memset(&rmsgs[i].msg_hdr, 0, sizeof(struct msghdr));
    rmsgs[i].msg_hdr.msg_iov = &riov[i];
    rmsgs[i].msg_hdr.msg_iovlen = 1;
    rmsgs[i].msg_hdr.msg_name = &raddr[i];
  }
  g_env = env;
  napi_create_reference(env, argv[1], 1, &on_batch);
  napi_value name;
  napi_create_string_utf8(env, "mmsg", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &async_ctx);
  uv_loop_t* loop;
  napi_get_uv_event_loop(env, &loop);
  uv_poll_init(loop, &poll_handle, fd);
  uv_poll_start(&poll_handle, UV_READABLE, on_readable);
  napi_value out, rxb, metab;
  napi_create_external_arraybuffer(env, rx, sizeof rx, NULL, NULL, &rxb);
  napi_create_external_arraybuffer(env, meta, sizeof meta, NULL, NULL, &metab);
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "rx", rxb);
  napi_set_named_property(env, out, "meta", metab);
  return out;
}

static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void* data;
  size_t len;
  int32_t port;
  uint32_t addr;
  napi_get_buffer_info(env, argv[0], &data, &len);
  napi_get_value_int32(env, argv[1], &port);
  napi_get_value_uint32(env, argv[2], &addr);
  if (len > DGRAM) return NULL; /* larger than any OPTIONS answer: not this device's case */
  if (queued == BATCH) flush();
  memcpy(tx + queued * DGRAM, data, len);
  siov[queued].iov_base = tx + queued * DGRAM;
  siov[queued].iov_len = len;
  memset(&smsgs[queued].msg_hdr, 0, sizeof(struct msghdr));
  saddr[queued].sin_family = AF_INET;
  saddr[queued].sin_port = htons((uint16_t)port);
  saddr[queued].sin_addr.s_addr = htonl(addr);
  smsgs[queued].msg_hdr.msg_iov = &siov[queued];
  smsgs[queued].msg_hdr.msg_iovlen = 1;
  smsgs[queued].msg_hdr.msg_name = &saddr[queued];
  smsgs[queued].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
  queued++;
  if (!in_batch) flush();
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value f;
  napi_create_function(env, "open", NAPI_AUTO_LENGTH, js_open, NULL, &f);
  napi_set_named_property(env, exports, "open", f);
  napi_create_function(env, "send", NAPI_AUTO_LENGTH, js_send, NULL, &f);
  napi_set_named_property(env, exports, "send", f);
  return exports;
}
