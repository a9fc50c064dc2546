// net/tcp_transport.h: the authenticated TCP implementation of net::Transport
// (docs/wire-protocol.md; DESIGN.md §3, §5).
//
// One TcpTransport per node process. It listens on the node's address from the cluster
// file, dials every higher-id node, authenticates each connection (§5), runs reliable
// delivery (§6), heartbeats, failure detection and the membership agreement (§7), and
// delivers messages and views to the TransportHandler.
//
// Threads: `io_threads` Asio threads (a strand per connection and one for the timer).
// By default (deliver_on_io_thread) an I/O thread also makes the handler calls: one at
// a time, in order, outside every strand and holding no lock of the transport (so a
// handler may call Send()), right after the handler that decoded the frame. Handlers
// must not block (net/transport.h). If one does anyway for heartbeat_interval / 2 (at
// most 50 ms), a rescue thread runs the io_context beside it until it returns, so
// reads, writes, acks and heartbeats go on and the node is not declared dead; only
// deliveries wait (stats().stalled_handler_rescues, one WARN line). Without deliver_on_io_thread a
// delivery thread makes the calls instead (one thread hand-off more each way).
//
// Send() writes from the calling thread when the connection has no write in flight (a
// non-blocking send(); the I/O thread finishes what the socket did not take), so a
// request costs no thread hand-off on the way out. Sends made by handler calls are
// written once per connection when the run of handler calls ends (batching the replies
// to one read). A handler that blocks also holds back what it sent until it returns.
// docs/wire-protocol.md §12.
//
// This header includes no Asio (net/asio.h is private to net/*.cc).
//
// Thread safety: every public method may be called from any thread; Start() and Stop()
// from one controlling thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "net/cluster_config.h"
#include "net/transport.h"

namespace cohort::net {

struct TcpTransportOptions {
  int io_threads = 1;
  // Make handler calls on the I/O thread instead of a delivery thread: two thread
  // hand-offs fewer per message (docs/wire-protocol.md §12, bench/net_bench.cc). Calls
  // stay serialized whatever io_threads is; a handler that blocks is survived by the
  // rescue thread above, at the price of up to 50 ms of stalled networking.
  bool deliver_on_io_thread = true;
  // TEST only: never drop acknowledged messages and resend every queued message after a
  // reconnect, so that the receiver's duplicate check (§6 rule 2) is exercised.
  bool test_ignore_acks = false;
  // TEST only: > 0 sets SO_SNDBUF of every connection, so that a direct send() takes
  // only part of a batch and the I/O thread writes the rest (docs/wire-protocol.md §12).
  int test_send_buffer_bytes = 0;
};

// Counters for tests, `cohort status` and logs. Monotonic.
struct TransportStats {
  uint64_t connections_opened = 0;
  uint64_t connections_closed = 0;
  uint64_t protocol_errors = 0;     // §2.2 Protocol, handshake rule violations
  uint64_t corruption_errors = 0;   // crc32c mismatches
  uint64_t auth_failures = 0;       // MAC / proof failures
  uint64_t data_sent = 0;           // DATA frames written (resends included)
  uint64_t data_delivered = 0;
  uint64_t duplicates_dropped = 0;
  uint64_t stale_dropped = 0;       // older generation / not a member
  uint64_t views_installed = 0;
  uint64_t stalled_handler_rescues = 0;  // handler calls that outlasted min(heartbeat/2, 50 ms)
  uint64_t async_write_remainders = 0;   // batches a direct send() did not finish (§12)
};

class TcpTransport final : public Transport {
 public:
  // `key` is the cluster key (LoadKeyFile). Errors: InvalidArgument if `self` is not in
  // the config or the key is shorter than kMinKeyBytes.
  static Result<std::unique_ptr<TcpTransport>> Create(ClusterConfig config, NodeId self,
                                                      std::vector<uint8_t> key,
                                                      TcpTransportOptions options = {});
  ~TcpTransport() override;  // Stop()s

  // Binds the listening socket and starts the threads. REQUIRES: SetHandler() was
  // called. Errors: IOError if the address cannot be bound.
  Status Start();
  // Closes every connection, stops the threads; no handler call is made after it
  // returns. Idempotent.
  void Stop();

  NodeId self() const override;
  void SetHandler(TransportHandler* handler) override;
  Status Send(NodeId to, uint64_t generation, std::vector<uint8_t> payload) override;
  MembershipView membership() const override;

  TransportStats stats() const;
  // One line per peer: connection state, sequences, queue lengths; then the view.
  std::string DebugString() const;

  // Fault injection (docs/wire-protocol.md §11). TEST only.
  void TEST_BlockPeer(NodeId peer, bool blocked);
  void TEST_DropConnection(NodeId peer);

  class Impl;

 private:
  explicit TcpTransport(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cohort::net
