// net/tcp_transport.cc: the TCP transport of net/tcp_transport.h.
//
// Follows docs/wire-protocol.md: §5 handshake (Connection::OnHello / OnChallenge /
// OnResponse), §6 reliable delivery (Impl::OnOpen, Connection::BuildBatch, Impl::OnData),
// §7 heartbeats and membership (Impl::Tick, Impl::HandleAction), §11 fault injection.
//
// Structure:
//   Impl            owns the io_context, the acceptor, the tick timer (on its own strand),
//                   the Membership (under mu_), one Peer per configured node, and the
//                   delivery thread.
//   Peer            the state of one peer that outlives connections: sequences, the
//                   queue of unacknowledged messages, held messages (under Peer::mu).
//   Connection      one TCP connection. The read side, the timers and the handshake
//                   state are touched only on its strand; the write side is under its
//                   wmu_ and runs on whichever thread has something to send (the send
//                   fast path, docs/wire-protocol.md §12): one write in flight; frames
//                   are encoded (and MAC'd, in counter order) only when a write batch is
//                   built, and sent with a non-blocking send() at once, the remainder (if
//                   the socket is full) by an async_write on the strand. Handler calls
//                   cork their sends: each connection is written once when the run of
//                   calls ends (tl_corked). Reads fill one buffer and every complete
//                   frame in it is handled before the next read.
//   Delivery        one queue of handler calls (views and messages, in the order they
//                   were decided under mu_), drained by a Drain() (deliver_on_io_thread,
//                   the default; at most one scheduled or running) or by the delivery
//                   thread. A Drain() that a read makes due runs on the reading thread
//                   right after the read's strand handler returns (Connection::
//                   OnReadDone, tl_drain_after_read); any other is posted to the
//                   io_context. Received payload buffers go back to a small pool after
//                   their handler call and are reused by reads. RescueLoop() runs the
//                   io_context beside a handler call that blocks (docs/wire-protocol.md
//                   §12).
//
// Lock order (common/lock_rank.h): Impl::mu_ (kNetMembership) before Connection::wmu_
// (kNetConnWrite) before Peer::mu (kNetPeer) before Impl::dq_mu_ (kNetDelivery). No lock
// is held across an Asio call that may run a handler inline, nor while Drain() or the
// delivery thread calls the TransportHandler.
#include "net/tcp_transport.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <thread>

#include "common/clock.h"
#include "common/logging.h"
#include "common/mutex.h"
#include "net/asio.h"
#include "net/auth.h"
#include "net/frame.h"
#include "net/membership.h"

namespace cohort::net {

using asio::ip::tcp;
using Strand = asio::strand<asio::io_context::executor_type>;

namespace {

constexpr size_t kMaxBatchBytes = 256 * 1024;
constexpr size_t kMaxHeldMessages = 1 << 16;
constexpr int kAckEvery = 64;
constexpr size_t kReadChunk = 64 * 1024;
constexpr int kMaxPendingHandshakes = 64;
constexpr std::chrono::milliseconds kAckDelay(2);
constexpr int kMaxDeliveriesPerDrain = 256;
constexpr size_t kMaxSparePayloads = 64;
constexpr size_t kMaxSparePayloadBytes = 4096;

struct OutMsg {
  uint64_t seq;
  uint64_t generation;
  std::vector<uint8_t> payload;  // the caller's buffer, moved in (no copy)
};

struct HeldMsg {
  uint64_t generation;
  std::vector<uint8_t> payload;
};

struct Intent {
  FrameType type;
  std::vector<uint8_t> payload;
};

Nanos Now() { return Clock::Real()->Now(); }

}  // namespace

class Connection;

namespace {
// Corking (docs/wire-protocol.md §12): while this thread makes a run of handler calls
// (Drain(), the delivery thread), Send() only notes the connection here, and the run
// writes each noted connection once when it ends: the replies to the messages of one
// read go out in one send() per peer instead of one each.
thread_local std::vector<std::shared_ptr<Connection>>* tl_corked = nullptr;
// Drain after the read (docs/wire-protocol.md §12): set while this thread dispatches a
// read completion into a connection's strand (Connection::OnReadDone). A Drain() that
// becomes due meanwhile is noted here instead of posted, and the thread runs it as soon
// as the strand handler returns, outside every strand: no second pass of the scheduler
// (an epoll_wait(0)) between a request's arrival and its handler call.
thread_local bool* tl_drain_after_read = nullptr;
}  // namespace

struct Peer {
  explicit Peer(const NodeConfig& c) : config(c) {}
  const NodeConfig config;
  std::atomic<bool> blocked{false};

  Mutex mu{LockRank::kNetPeer, "net.peer"};
  uint64_t incarnation GUARDED_BY(mu) = 0;  // the peer incarnation our state is for
  uint64_t next_seq GUARDED_BY(mu) = 1;
  std::deque<OutMsg> unacked GUARDED_BY(mu);  // ascending seq
  uint64_t recv_last GUARDED_BY(mu) = 0;
  std::deque<HeldMsg> held GUARDED_BY(mu);
  std::shared_ptr<Connection> conn GUARDED_BY(mu);  // dialing/open (dialer) or open
  Nanos last_heard GUARDED_BY(mu) = 0;
  uint64_t live_incarnation GUARDED_BY(mu) = 0;
  Nanos next_dial GUARDED_BY(mu) = 0;
};

struct DeliveryEvent {
  bool is_view = false;
  MembershipView view;
  NodeId from = kNoNode;
  uint64_t generation = 0;
  std::vector<uint8_t> payload;
};

class TcpTransport::Impl {
 public:
  Impl(ClusterConfig config, NodeId self, std::vector<uint8_t> key, TcpTransportOptions opts)
      : config_(std::move(config)),
        self_(self),
        incarnation_(RandomNonZero64()),
        cluster_key_(key),
        options_(opts),
        tick_strand_(asio::make_strand(io_)),
        acceptor_(io_),
        tick_timer_(tick_strand_),
        membership_(self, incarnation_, Votes(config_)) {
    for (const NodeConfig& n : config_.nodes) {
      if (n.id != self_) peers_.emplace(n.id, std::make_unique<Peer>(n));
    }
    MutexLock l(&mu_);
    current_generation_ = membership_.generation();
  }

  ~Impl() { Stop(); }

  static std::map<NodeId, uint32_t> Votes(const ClusterConfig& c) {
    std::map<NodeId, uint32_t> v;
    for (const NodeConfig& n : c.nodes) v[n.id] = n.votes;
    return v;
  }

  Status Start();
  void Stop();
  Status Send(NodeId to, uint64_t generation, std::vector<uint8_t> payload);
  MembershipView membership() const EXCLUDES(mu_) {
    MutexLock l(&mu_);
    return membership_.view();
  }
  std::string DebugString() const;
  void BlockPeer(NodeId id, bool blocked);
  void DropConnection(NodeId id);

  // ---- called by Connection (on its strand) ----
  Peer* FindPeer(NodeId id) {
    auto it = peers_.find(id);
    return it == peers_.end() ? nullptr : it->second.get();
  }
  // §6 rule 4 and the liveness/membership consequences of a new open connection.
  void OnOpen(const std::shared_ptr<Connection>& c, Peer* peer, uint64_t peer_incarnation,
              uint64_t their_known, uint64_t their_recv_last, uint64_t* resend_from)
      EXCLUDES(mu_);
  void OnClosed(Connection* c, Peer* peer) EXCLUDES(mu_);
  // Returns false on a protocol violation (bad ack).
  bool OnAck(Peer* peer, uint64_t ack) EXCLUDES(mu_);
  // Takes *payload if it keeps it (delivery or held) and leaves in its place a spare
  // buffer of an earlier delivery (no allocation per message), or an empty vector.
  void OnData(Peer* peer, uint64_t generation, uint64_t seq, std::vector<uint8_t>* payload)
      EXCLUDES(mu_);
  void OnHeartbeat(Peer* peer, const HeartbeatMsg& hb) EXCLUDES(mu_);
  void OnPropose(Peer* peer, const ProposeMsg& p) EXCLUDES(mu_);
  // Runs the Drain() that Enqueue() noted in tl_drain_after_read (the caller holds no
  // lock and is in no strand).
  void DrainAfterRead() EXCLUDES(dq_mu_) { Drain(); }
  void NoteHeard(Peer* peer) EXCLUDES(mu_) {
    MutexLock l(&peer->mu);
    peer->last_heard = Now();
  }

  const ClusterConfig config_;
  const NodeId self_;
  const uint64_t incarnation_;
  const MacKey cluster_key_;
  const TcpTransportOptions options_;
  const bool inline_delivery_ = options_.deliver_on_io_thread;
  std::atomic<int> pending_handshakes_{0};  // inbound connections not yet open
  std::atomic<uint64_t> current_generation_{0};
  std::atomic<Nanos> handler_since_{0};  // when the running handler call began; 0: none

  // Stats.
  std::atomic<uint64_t> st_opened{0}, st_closed{0}, st_protocol{0}, st_corruption{0},
      st_auth{0}, st_data_sent{0}, st_delivered{0}, st_dups{0}, st_stale{0}, st_views{0},
      st_rescues{0}, st_async_writes{0};

  asio::io_context io_;  // before every object that uses it: destroyed after them

 private:
  void Tick() EXCLUDES(mu_);
  void ArmTick();
  void Accept();
  void Dial(Peer* peer) EXCLUDES(mu_);
  HeartbeatMsg MakeHeartbeat() REQUIRES(mu_);
  void RecomputeLive() REQUIRES(mu_);
  // Installs the consequences of a view change (§7.4): delivery, purge, held messages,
  // proposals. `conns_to_propose` collects connections to post PROPOSE to after unlock.
  void HandleAction(const Membership::Action& a,
                    std::vector<std::pair<std::shared_ptr<Connection>, Intent>>* posts)
      REQUIRES(mu_);
  void OnViewInstalled() REQUIRES(mu_);
  // Queues a handler call. With `spare`, a buffer returned by an earlier delivery (if
  // one is kept) is moved into *spare for the caller's next payload.
  void Enqueue(DeliveryEvent ev, std::vector<uint8_t>* spare = nullptr) EXCLUDES(dq_mu_);
  void DeliveryLoop() EXCLUDES(dq_mu_);
  void Drain() EXCLUDES(dq_mu_);
  void Deliver(const DeliveryEvent& ev);
  void RescueLoop() EXCLUDES(dq_mu_);
  // Writes every connection noted in `corked` and clears it.
  static void FlushCorked(std::vector<std::shared_ptr<Connection>>* corked);
  void Post(std::vector<std::pair<std::shared_ptr<Connection>, Intent>>* posts);

  Strand tick_strand_;
  tcp::acceptor acceptor_;
  asio::steady_timer tick_timer_;
  std::vector<std::thread> io_threads_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  bool started_ = false;
  bool stopped_ = false;
  std::atomic<bool> stopping_{false};
  Nanos next_heartbeat_ = 0;

  std::map<NodeId, std::unique_ptr<Peer>> peers_;  // immutable after construction

  mutable Mutex mu_{LockRank::kNetMembership, "net.membership"};
  Membership membership_ GUARDED_BY(mu_);

 public:
  TransportHandler* handler_ = nullptr;

 private:
  Mutex dq_mu_{LockRank::kNetDelivery, "net.delivery"};
  CondVar dq_cv_{&dq_mu_};
  std::deque<DeliveryEvent> dq_ GUARDED_BY(dq_mu_);
  bool dq_stop_ GUARDED_BY(dq_mu_) = false;
  // Inline delivery: a Drain() is posted or running; it clears this when it finds dq_
  // empty.
  bool drain_scheduled_ GUARDED_BY(dq_mu_) = false;
  // Payload buffers of delivered messages, reused by Connection reads (OnData): no
  // allocation per received message. At most kMaxSparePayloads, each of at most
  // kMaxSparePayloadBytes capacity.
  std::vector<std::vector<uint8_t>> spare_payloads_ GUARDED_BY(dq_mu_);
  void KeepSpare(std::vector<uint8_t>* p) REQUIRES(dq_mu_) {
    if (p->capacity() == 0 || p->capacity() > kMaxSparePayloadBytes ||
        spare_payloads_.size() >= kMaxSparePayloads) {
      return;
    }
    p->clear();
    try {
      spare_payloads_.push_back(std::move(*p));
    } catch (const std::bad_alloc&) {
      // Not kept: the buffer is freed. A Drain() must not throw (drain_scheduled_).
    }
  }
  std::thread delivery_thread_;  // or, with inline delivery, the rescue thread
};

// ---------------------------------------------------------------------------------
// Connection
// ---------------------------------------------------------------------------------

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // Dialer: `peer` is known. Listener: `peer` is null until HELLO.
  Connection(TcpTransport::Impl* t, Strand strand, tcp::socket sock, Peer* peer)
      : t_(t),
        strand_(std::move(strand)),
        sock_(std::move(sock)),
        timer_(strand_),
        dialer_(peer != nullptr),
        peer_(peer) {}

  // Dialer: connect, then HELLO. REQUIRES: made with a peer.
  void StartDial(tcp::endpoint ep, uint64_t known_incarnation, uint64_t recv_last) {
    auto self = shared_from_this();
    asio::post(strand_, [this, self, ep, known_incarnation, recv_last] {
      ArmHandshakeTimer();
      sock_.async_connect(ep, asio::bind_executor(strand_, [this, self, known_incarnation,
                                                            recv_last](boost::system::error_code ec) {
        Guard([&] {
          if (ec) return Close("connect: " + ec.message(), false);
          SetSocketOptions();
          SetWriteFd();
          hello_.cluster_name = t_->config_.cluster_name;
          hello_.incarnation = t_->incarnation_;
          if (!RandomBytes(hello_.nonce).ok()) return Close("no random nonce", false);
          hello_.known_incarnation = known_incarnation;
          hello_.recv_last = recv_last;
          hello_bytes_ = EncodeHello(hello_);
          Queue({FrameType::kHello, hello_bytes_});
          ReadMore();
        });
      }));
    });
  }

  // Listener: wait for HELLO.
  void StartAccept() {
    auto self = shared_from_this();
    asio::post(strand_, [this, self] {
      Guard([&] {
        SetSocketOptions();
        SetWriteFd();
        ArmHandshakeTimer();
        ReadMore();
      });
    });
  }

  // Queues a control frame from any thread.
  void PostIntent(Intent in) {
    auto self = shared_from_this();
    asio::post(strand_, [this, self, in = std::move(in)]() mutable {
      Guard([&] {
        if (state_ == State::kOpen) Queue(std::move(in));
      });
    });
  }

  // New DATA was queued: writes it from the calling thread if no write is in flight
  // (docs/wire-protocol.md §12, send fast path). Any thread; holds no lock on entry.
  void WriteNow() EXCLUDES(wmu_) {
    MutexLock l(&wmu_);
    MaybeWrite();
  }
  // Has the I/O thread write what is queued (coalesced: one post at a time).
  void Kick() {
    if (kick_posted_.exchange(true)) return;
    auto self = shared_from_this();
    asio::post(strand_, [this, self] {
      kick_posted_ = false;
      Guard([&] { WriteNow(); });
    });
  }
  // Corking (tl_corked): true if the caller must note this connection (first time).
  bool Cork() { return !corked_.exchange(true); }
  void Uncork() { corked_ = false; }

  void PostClose(std::string reason) {
    auto self = shared_from_this();
    asio::post(strand_, [this, self, reason = std::move(reason)] { Close(reason, false); });
  }

  std::string remote() const { return remote_; }
  bool open_hint() const { return open_hint_.load(); }

 private:
  enum class State { kHandshake, kOpen, kClosed };

  template <typename F>
  void Guard(F&& f) {
    // Handlers never throw past the Asio edge (STYLE.md principle 5).
    try {
      f();
    } catch (const std::bad_alloc&) {
      Close("out of memory", true);
    } catch (const std::exception& e) {
      Close(std::string("internal error: ") + e.what(), true);
    } catch (...) {
      Close("internal error", true);
    }
  }

  // The descriptor that writes use (§12: writes may come from any thread, under wmu_).
  void SetWriteFd() EXCLUDES(wmu_) {
    MutexLock l(&wmu_);
    wfd_ = sock_.native_handle();
  }

  void SetSocketOptions() {
    boost::system::error_code ec;
    sock_.set_option(tcp::no_delay(true), ec);
    if (t_->options_.test_send_buffer_bytes > 0) {
      sock_.set_option(asio::socket_base::send_buffer_size(t_->options_.test_send_buffer_bytes),
                       ec);
    }
    auto ep = sock_.remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string() + ":" + std::to_string(ep.port());
  }

  void ArmHandshakeTimer() {
    auto self = shared_from_this();
    timer_.expires_after(std::chrono::nanoseconds(t_->config_.dead_timeout));
    timer_.async_wait(asio::bind_executor(strand_, [this, self](boost::system::error_code ec) {
      if (!ec && state_ == State::kHandshake) Close("handshake timeout", false);
    }));
  }

  std::string Who() const {
    std::string s = peer_ ? "node " + std::to_string(peer_->config.id) : "unknown node";
    return s + " (" + (remote_.empty() ? "?" : remote_) + ")";
  }

  // Closes for a check failure: counts it and logs one WARN line (§2.2).
  void Fail(const Status& s) {
    switch (s.code()) {
      case Code::kCorruption: ++t_->st_corruption; break;
      case Code::kAuthFailed: ++t_->st_auth; break;
      default: ++t_->st_protocol; break;
    }
    Close(s.ToString(), true);
  }

  // An inbound connection stops counting as a pending handshake (once).
  void LeaveHandshake() {
    if (!dialer_ && state_ == State::kHandshake) --t_->pending_handshakes_;
  }

  void Close(const std::string& reason, bool warn) {
    if (state_ == State::kClosed) return;
    LeaveHandshake();
    bool was_open = state_ == State::kOpen;
    state_ = State::kClosed;
    open_hint_ = false;
    if (warn) {
      COHORT_LOG_WARN("net: closing connection with {}: {}", Who(), reason);
    } else {
      COHORT_LOG_INFO("net: connection with {} closed: {}", Who(), reason);
    }
    {
      // Under wmu_: a write from another thread never sees the descriptor closed (and
      // perhaps reused) under it.
      MutexLock l(&wmu_);
      w_open_ = false;
      w_closed_ = true;
      wfd_ = -1;
      boost::system::error_code ec;
      sock_.shutdown(tcp::socket::shutdown_both, ec);
      sock_.close(ec);
    }
    timer_.cancel();
    ack_timer_.cancel();
    if (was_open) ++t_->st_closed;
    if (peer_ != nullptr) t_->OnClosed(this, peer_);
  }

  // ---- reading: one buffer; every frame it holds is handled before the next read ----
  void ReadMore() {
    if (rbeg_ == rend_) rbeg_ = rend_ = 0;
    if (rbuf_.size() - rend_ < kReadChunk) {
      std::copy(rbuf_.begin() + static_cast<long>(rbeg_), rbuf_.begin() + static_cast<long>(rend_),
                rbuf_.begin());
      rend_ -= rbeg_;
      rbeg_ = 0;
      if (rbuf_.size() - rend_ < kReadChunk) rbuf_.resize(rend_ + kReadChunk);
    }
    // The completion runs on the io_context, not the strand: OnReadDone enters the
    // strand itself, so that it can make the handler calls after leaving it.
    sock_.async_read_some(
        asio::buffer(rbuf_.data() + rend_, rbuf_.size() - rend_),
        asio::bind_executor(t_->io_.get_executor(),
                            [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                              Connection* c = self.get();
                              c->OnReadDone(std::move(self), ec, n);
                            }));
  }

  // A read completed (an I/O thread, outside every strand). The frames are handled on
  // the strand, normally inline (dispatch); the handler calls they made due run here
  // right after, outside the strand (tl_drain_after_read, docs/wire-protocol.md §12),
  // so a handler call that blocks does not hold this connection's strand: the rescue
  // thread can still read from it. If the strand is busy on another thread, OnRead runs
  // there later and the handler calls are posted as before.
  static void OnReadDone(std::shared_ptr<Connection> self, boost::system::error_code ec,
                         size_t n) {
    TcpTransport::Impl* t = self->t_;
    bool drain = false;
    bool* outer = tl_drain_after_read;
    tl_drain_after_read = &drain;
    Connection* c = self.get();
    asio::dispatch(c->strand_, [self = std::move(self), ec, n] {
      self->Guard([&] { self->OnRead(ec, n); });
    });
    tl_drain_after_read = outer;
    if (drain) t->DrainAfterRead();
  }

  void OnRead(boost::system::error_code ec, size_t n) {
    if (state_ == State::kClosed) return;
    if (ec) {
      if (rend_ > rbeg_) {
        ++t_->st_protocol;
        return Close("truncated frame: " + ec.message(), true);
      }
      return Close(ec == asio::error::eof ? "peer closed" : "read: " + ec.message(), false);
    }
    rend_ += n;
    // Each pass consumes at least one header, so the buffer bounds the loop.
    for (int guard = 0; guard < 1 << 20 && rend_ - rbeg_ >= kHeaderBytes; ++guard) {
      std::span<const uint8_t> avail(rbuf_.data() + rbeg_, rend_ - rbeg_);
      Result<FrameHeader> h = DecodeHeader(avail);
      if (!h.ok()) return Fail(h.status());  // the length is checked before it is used
      size_t need = kHeaderBytes + h->length;
      if (avail.size() < need) {
        if (rbuf_.size() - rbeg_ < need) rbuf_.resize(rbeg_ + need + kReadChunk);
        break;
      }
      std::copy(avail.begin(), avail.begin() + kHeaderBytes, hdr_.begin());
      payload_.assign(avail.begin() + kHeaderBytes, avail.begin() + static_cast<long>(need));
      hdr_decoded_ = *h;
      rbeg_ += need;
      OnFrame();
      if (state_ == State::kClosed) return;
    }
    ReadMore();
  }

  void OnFrame() {
    const FrameHeader& h = hdr_decoded_;
    if (state_ == State::kHandshake) {
      MacInput mi{&t_->cluster_key_, false, 0};
      Status s = VerifyFrame(h, hdr_, payload_, mi);
      if (!s.ok()) return Fail(s);
      if (!IsHandshakeType(h.type)) {
        return Fail(Status::Protocol(std::string(FrameTypeName(h.type)) +
                                     " before the handshake completed"));
      }
      Status hs;
      if (!dialer_ && h.type == FrameType::kHello && !got_hello_) {
        hs = OnHello(h);
      } else if (dialer_ && h.type == FrameType::kChallenge) {
        hs = OnChallenge(h);
      } else if (!dialer_ && h.type == FrameType::kResponse && got_hello_) {
        hs = OnResponse(h);
      } else {
        hs = Status::Protocol(std::string("unexpected ") + FrameTypeName(h.type) +
                              " in the handshake");
      }
      if (!hs.ok()) return Fail(hs);
      return;
    }
    // Open.
    MacInput mi{recv_key_.get(), true, recv_counter_};
    Status s = VerifyFrame(h, hdr_, payload_, mi);
    if (!s.ok()) return Fail(s);
    ++recv_counter_;
    if (h.sender != peer_->config.id || h.receiver != t_->self_) {
      return Fail(Status::Protocol("frame from " + std::to_string(h.sender) + " to " +
                                   std::to_string(h.receiver) + " on this connection"));
    }
    if (IsHandshakeType(h.type)) {
      return Fail(Status::Protocol(std::string(FrameTypeName(h.type)) +
                                   " after the handshake"));
    }
    t_->NoteHeard(peer_);
    if (!t_->OnAck(peer_, h.ack)) {
      return Fail(Status::Protocol("ack " + std::to_string(h.ack) +
                                   " beyond the highest sequence sent"));
    }
    switch (h.type) {
      case FrameType::kData:
        if (h.sequence == 0) return Fail(Status::Protocol("DATA with sequence 0"));
        t_->OnData(peer_, h.generation, h.sequence, &payload_);
        ScheduleAck();
        break;
      case FrameType::kAck:
        if (!payload_.empty()) return Fail(Status::Protocol("ACK with a payload"));
        break;
      case FrameType::kHeartbeat: {
        Result<HeartbeatMsg> hb = DecodeHeartbeat(payload_);
        if (!hb.ok()) return Fail(hb.status());
        t_->OnHeartbeat(peer_, *hb);
        break;
      }
      case FrameType::kPropose: {
        Result<ProposeMsg> p = DecodePropose(payload_);
        if (!p.ok()) return Fail(p.status());
        t_->OnPropose(peer_, *p);
        break;
      }
      default:
        return Fail(Status::Protocol("unexpected frame type"));
    }
  }

  // §5.2, listener side.
  Status OnHello(const FrameHeader& h) {
    Result<HelloMsg> m = DecodeHello(payload_);
    if (!m.ok()) return m.status();
    if (m->cluster_name != t_->config_.cluster_name) {
      return Status::AuthFailed("HELLO for cluster '" + m->cluster_name + "'");
    }
    if (h.receiver != t_->self_) return Status::Protocol("HELLO for another node");
    Peer* p = t_->FindPeer(h.sender);
    if (p == nullptr) {
      return Status::Protocol("HELLO from unconfigured node " + std::to_string(h.sender));
    }
    if (h.sender > t_->self_) {
      return Status::Protocol("HELLO from higher node " + std::to_string(h.sender));
    }
    peer_ = p;
    if (p->blocked) {
      Close("peer blocked (test fault injection)", false);
      return Status::OK();
    }
    got_hello_ = true;
    hello_ = std::move(*m);
    hello_bytes_ = payload_;
    ChallengeMsg c;
    c.incarnation = t_->incarnation_;
    COHORT_RETURN_IF_ERROR(RandomBytes(c.nonce));
    {
      MutexLock l(&p->mu);
      c.known_incarnation = p->incarnation;
      c.recv_last = p->recv_last;
    }
    std::vector<uint8_t> wo = EncodeChallenge(c);
    wo.resize(wo.size() - kMacBytes);
    Digest proof = ListenerProof(t_->cluster_key_, hello_bytes_, wo);
    std::copy(proof.begin(), proof.end(), c.proof.begin());
    challenge_bytes_ = EncodeChallenge(c);
    SessionKeys k = DeriveSessionKeys(t_->cluster_key_, hello_.nonce, c.nonce,
                                      h.sender, t_->self_);
    recv_key_ = std::make_unique<MacKey>(k.dialer_to_listener);
    {
      MutexLock l(&wmu_);
      send_key_ = std::make_unique<MacKey>(k.listener_to_dialer);
    }
    Queue({FrameType::kChallenge, challenge_bytes_});
    return Status::OK();
  }

  // §5.2, dialer side.
  Status OnChallenge(const FrameHeader& h) {
    if (h.sender != peer_->config.id || h.receiver != t_->self_) {
      return Status::Protocol("CHALLENGE from " + std::to_string(h.sender));
    }
    Result<ChallengeMsg> c = DecodeChallenge(payload_);
    if (!c.ok()) return c.status();
    std::span<const uint8_t> wo(payload_.data(), payload_.size() - kMacBytes);
    Digest expect = ListenerProof(t_->cluster_key_, hello_bytes_, wo);
    if (!MacEqual(expect, c->proof)) return Status::AuthFailed("bad listener proof");
    ResponseMsg r;
    Digest proof = DialerProof(t_->cluster_key_, hello_bytes_, payload_);
    std::copy(proof.begin(), proof.end(), r.proof.begin());
    SessionKeys k = DeriveSessionKeys(t_->cluster_key_, hello_.nonce, c->nonce, t_->self_,
                                      peer_->config.id);
    {
      MutexLock l(&wmu_);
      send_key_ = std::make_unique<MacKey>(k.dialer_to_listener);
    }
    recv_key_ = std::make_unique<MacKey>(k.listener_to_dialer);
    Queue({FrameType::kResponse, EncodeResponse(r)});
    GoOpen(c->incarnation, c->known_incarnation, c->recv_last);
    return Status::OK();
  }

  Status OnResponse(const FrameHeader& h) {
    if (h.sender != peer_->config.id || h.receiver != t_->self_) {
      return Status::Protocol("RESPONSE from " + std::to_string(h.sender));
    }
    Result<ResponseMsg> r = DecodeResponse(payload_);
    if (!r.ok()) return r.status();
    Digest expect = DialerProof(t_->cluster_key_, hello_bytes_, challenge_bytes_);
    if (!MacEqual(expect, r->proof)) return Status::AuthFailed("bad dialer proof");
    if (peer_->blocked) {
      Close("peer blocked (test fault injection)", false);
      return Status::OK();
    }
    GoOpen(hello_.incarnation, hello_.known_incarnation, hello_.recv_last);
    return Status::OK();
  }

  void GoOpen(uint64_t peer_inc, uint64_t their_known, uint64_t their_recv_last) {
    LeaveHandshake();
    state_ = State::kOpen;
    open_hint_ = true;
    timer_.cancel();
    ++t_->st_opened;
    COHORT_LOG_INFO("net: connection with {} open (incarnation {:x})", Who(), peer_inc);
    uint64_t resend_from = 0;
    t_->OnOpen(shared_from_this(), peer_, peer_inc, their_known, their_recv_last,
               &resend_from);
    // Until here a Send() from another thread finds w_open_ false and leaves its DATA
    // queued; this write takes everything from resend_from on, in sequence order.
    MutexLock l(&wmu_);
    send_cursor_ = resend_from;
    w_open_ = true;
    MaybeWrite();
  }

  // §6 rule 3: an ACK frame only when nothing else carries the ack soon: after
  // kAckEvery unacknowledged DATA frames at once, otherwise after kAckDelay (a reply or
  // heartbeat written meanwhile carries it and makes the ACK unnecessary).
  void ScheduleAck() EXCLUDES(wmu_) {
    {
      MutexLock l(&wmu_);
      ack_pending_ = true;
      if (++rx_since_ack_ >= kAckEvery) return MaybeWrite();
      if (ack_timer_armed_) return;
      ack_timer_armed_ = true;
    }
    auto self = shared_from_this();  // the timer itself is touched on the strand only
    ack_timer_.expires_after(kAckDelay);
    ack_timer_.async_wait(asio::bind_executor(strand_, [this, self](boost::system::error_code) {
      Guard([&] {
        MutexLock l(&wmu_);
        ack_timer_armed_ = false;
        MaybeWrite();
      });
    }));
  }

  // ---- writing: one write in flight; frames encoded in MAC-counter order ----
  void Queue(Intent in) EXCLUDES(wmu_) {
    MutexLock l(&wmu_);
    control_.push_back(std::move(in));
    MaybeWrite();
  }

  void EncodeOne(FrameType type, uint64_t generation, uint64_t seq, uint64_t ack,
                 std::span<const uint8_t> payload) REQUIRES(wmu_) {
    FrameHeader h;
    h.type = type;
    h.sender = t_->self_;
    h.receiver = peer_->config.id;
    h.generation = generation;
    h.sequence = seq;
    h.ack = ack;
    if (IsHandshakeType(type)) {
      EncodeFrame(h, payload, MacInput{&t_->cluster_key_, false, 0}, &batch_);
    } else {
      EncodeFrame(h, payload, MacInput{send_key_.get(), true, send_counter_++}, &batch_);
    }
  }

  // Builds the next batch and writes it, unless a write is in flight. Any thread
  // (§12): the batch is sent at once with a non-blocking send() from the calling
  // thread; what the socket does not take goes to an async_write started on the
  // strand, which calls MaybeWrite() again when done. writing_ covers both, so there is
  // one write at a time and frames reach the socket in the order their MACs count.
  void MaybeWrite() REQUIRES(wmu_) {
    if (writing_ || w_closed_ || wfd_ < 0 || peer_ == nullptr) return;
    batch_.clear();
    uint64_t gen = t_->current_generation_.load();
    uint64_t ack = 0;
    bool open = w_open_;
    if (open) {
      MutexLock l(&peer_->mu);
      ack = peer_->recv_last;
    }
    size_t n = 0;
    for (; n < control_.size() && batch_.size() < kMaxBatchBytes; ++n) {
      const Intent& in = control_[n];
      if (!open && !IsHandshakeType(in.type)) break;
      EncodeOne(in.type, gen, 0, IsHandshakeType(in.type) ? 0 : ack, in.payload);
    }
    control_.erase(control_.begin(), control_.begin() + static_cast<long>(n));
    if (open) {
      uint64_t data_frames = 0;
      {
        MutexLock l(&peer_->mu);
        ack = peer_->recv_last;
        auto it = std::lower_bound(
            peer_->unacked.begin(), peer_->unacked.end(), send_cursor_,
            [](const OutMsg& m, uint64_t s) { return m.seq < s; });
        for (; it != peer_->unacked.end() && batch_.size() < kMaxBatchBytes; ++it) {
          EncodeOne(FrameType::kData, it->generation, it->seq, ack, it->payload);
          send_cursor_ = it->seq + 1;
          ++data_frames;
        }
      }
      t_->st_data_sent += data_frames;
      if (!batch_.empty()) {
        ack_pending_ = false;
        rx_since_ack_ = 0;
      } else if (ack_pending_ && (!ack_timer_armed_ || rx_since_ack_ >= kAckEvery)) {
        EncodeOne(FrameType::kAck, gen, 0, ack, {});
        ack_pending_ = false;
        rx_since_ack_ = 0;
      }
    }
    if (batch_.empty()) return;
    size_t sent = 0;
    while (sent < batch_.size()) {
      ssize_t w = ::send(wfd_, batch_.data() + sent, batch_.size() - sent,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
      if (w > 0) {
        sent += static_cast<size_t>(w);
      } else if (w < 0 && errno == EINTR) {
        continue;
      } else {
        break;  // EAGAIN (socket buffer full) or an error: the async write reports it
      }
    }
    if (sent == batch_.size()) return;  // the common case: written, nothing in flight
    ++t_->st_async_writes;
    writing_ = true;
    wbuf_.assign(batch_.begin() + static_cast<long>(sent), batch_.end());
    auto self = shared_from_this();
    asio::post(strand_, [this, self] {
      Guard([&] {
        if (state_ == State::kClosed) return;
        asio::async_write(
            sock_, asio::buffer(wbuf_),  // wbuf_ is not touched while writing_
            asio::bind_executor(strand_, [this, self](boost::system::error_code ec, size_t) {
              Guard([&] {
                {
                  MutexLock l(&wmu_);
                  writing_ = false;
                  if (!ec) return MaybeWrite();
                }
                Close("write: " + ec.message(), false);
              });
            }));
      });
    });
  }

  TcpTransport::Impl* const t_;
  Strand strand_;
  tcp::socket sock_;
  asio::steady_timer timer_;
  const bool dialer_;
  Peer* peer_;
  std::string remote_;
  State state_ = State::kHandshake;
  std::atomic<bool> open_hint_{false};
  std::atomic<bool> corked_{false};  // noted in some thread's tl_corked list
  std::atomic<bool> kick_posted_{false};

  HelloMsg hello_;
  bool got_hello_ = false;
  std::vector<uint8_t> hello_bytes_, challenge_bytes_;
  std::unique_ptr<MacKey> recv_key_;  // strand
  uint64_t recv_counter_ = 0;          // strand

  std::array<uint8_t, kHeaderBytes> hdr_{};
  FrameHeader hdr_decoded_;
  std::vector<uint8_t> payload_;
  std::vector<uint8_t> rbuf_;
  size_t rbeg_ = 0, rend_ = 0;

  asio::steady_timer ack_timer_{strand_};

  // The write side: any thread, under wmu_ (§12). Reads, timers and the handshake stay
  // on the strand.
  Mutex wmu_{LockRank::kNetConnWrite, "net.conn_write"};
  int wfd_ GUARDED_BY(wmu_) = -1;           // the socket's descriptor once connected
  bool w_open_ GUARDED_BY(wmu_) = false;    // handshake done: open-state frames allowed
  bool w_closed_ GUARDED_BY(wmu_) = false;
  std::unique_ptr<MacKey> send_key_ GUARDED_BY(wmu_);
  uint64_t send_counter_ GUARDED_BY(wmu_) = 0;
  std::deque<Intent> control_ GUARDED_BY(wmu_);
  bool writing_ GUARDED_BY(wmu_) = false;   // a write is in flight (async remainder)
  bool ack_pending_ GUARDED_BY(wmu_) = false;
  int rx_since_ack_ GUARDED_BY(wmu_) = 0;
  bool ack_timer_armed_ GUARDED_BY(wmu_) = false;
  uint64_t send_cursor_ GUARDED_BY(wmu_) = 0;  // next DATA sequence to write here
  std::vector<uint8_t> batch_ GUARDED_BY(wmu_);
  std::vector<uint8_t> wbuf_;  // the in-flight remainder; owned by the write (writing_)
};

// ---------------------------------------------------------------------------------
// Impl
// ---------------------------------------------------------------------------------

Status TcpTransport::Impl::Start() {
  if (started_) return Status::InvalidArgument("transport already started");
  if (handler_ == nullptr) return Status::InvalidArgument("SetHandler() before Start()");
  const NodeConfig* me = config_.Find(self_);
  boost::system::error_code ec;
  auto addr = asio::ip::make_address_v4(me->host, ec);
  if (ec) return Status::InvalidArgument("bad address " + me->host);
  if (!config_.allow_non_loopback && !addr.is_loopback()) {
    return Status::InvalidArgument("refusing to listen on non-loopback " + me->host);
  }
  tcp::endpoint ep(addr, me->port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::IOError("listen on " + me->host + ":" + std::to_string(me->port) + ": " +
                           ec.message());
  }
  started_ = true;
  COHORT_LOG_INFO("net: node {} listening on {}:{} (incarnation {:x})", self_, me->host,
                  me->port, incarnation_);
  {
    MutexLock l(&mu_);
    Enqueue(DeliveryEvent{true, membership_.view(), kNoNode, 0, {}});
    ++st_views;
  }
  delivery_thread_ = inline_delivery_ ? std::thread([this] { RescueLoop(); })
                                      : std::thread([this] { DeliveryLoop(); });
  work_.emplace(asio::make_work_guard(io_));
  Accept();
  asio::post(tick_strand_, [this] { Tick(); });
  int n = std::max(1, options_.io_threads);
  for (int i = 0; i < n; ++i) {
    io_threads_.emplace_back([this] {
      for (int guard = 0; guard < 1000000 && !stopping_; ++guard) {
        try {
          io_.run();
          break;
        } catch (const std::exception& e) {
          COHORT_LOG_ERROR("net: exception escaped an Asio handler: {}", e.what());
        }
      }
    });
  }
  return Status::OK();
}

void TcpTransport::Impl::Stop() {
  if (!started_ || stopped_) return;
  stopped_ = true;
  stopping_ = true;
  asio::post(io_, [this] {
    boost::system::error_code ec;
    acceptor_.close(ec);
    tick_timer_.cancel();
  });
  for (auto& [id, p] : peers_) {
    std::shared_ptr<Connection> c;
    {
      MutexLock l(&p->mu);
      c = p->conn;
    }
    if (c) c->PostClose("shutdown");
  }
  work_.reset();
  io_.stop();
  for (auto& th : io_threads_) th.join();
  io_threads_.clear();
  {
    MutexLock l(&dq_mu_);
    dq_stop_ = true;
    dq_cv_.SignalAll();
  }
  if (delivery_thread_.joinable()) delivery_thread_.join();
  for (auto& [id, p] : peers_) {
    MutexLock l(&p->mu);
    p->conn.reset();
  }
}

void TcpTransport::Impl::Accept() {
  Strand st = asio::make_strand(io_);
  acceptor_.async_accept(st, [this, st](boost::system::error_code ec, tcp::socket s) {
    if (ec) {
      if (ec == asio::error::operation_aborted || stopping_) return;
      COHORT_LOG_WARN("net: accept: {}", ec.message());
    } else if (!stopping_) {
      try {
        if (pending_handshakes_ >= kMaxPendingHandshakes) {
          // Bounded memory against a connection flood: unauthenticated peers wait.
          COHORT_LOG_WARN("net: {} handshakes pending; refusing a connection",
                          pending_handshakes_.load());
          boost::system::error_code ignored;
          s.close(ignored);
        } else {
          ++pending_handshakes_;
          auto c = std::make_shared<Connection>(this, st, std::move(s), nullptr);
          c->StartAccept();
        }
      } catch (const std::exception& e) {
        COHORT_LOG_ERROR("net: accept: {}", e.what());
      }
    }
    if (!stopping_) Accept();
  });
}

void TcpTransport::Impl::Dial(Peer* peer) {
  uint64_t known, recv_last;
  std::shared_ptr<Connection> c;
  {
    MutexLock l(&peer->mu);
    if (peer->conn || peer->blocked) return;
    if (Now() < peer->next_dial) return;
    peer->next_dial = Now() + config_.reconnect_interval;
    Strand st = asio::make_strand(io_);
    c = std::make_shared<Connection>(this, st, tcp::socket(st), peer);
    peer->conn = c;
    known = peer->incarnation;
    recv_last = peer->recv_last;
  }
  boost::system::error_code ec;
  auto addr = asio::ip::make_address_v4(peer->config.host, ec);
  c->StartDial(tcp::endpoint(addr, peer->config.port), known, recv_last);
}

void TcpTransport::Impl::ArmTick() {
  Nanos period = std::min(config_.heartbeat_interval, config_.reconnect_interval);
  period = std::max<Nanos>(period / 2, kNanosPerMilli);
  tick_timer_.expires_after(std::chrono::nanoseconds(period));
  tick_timer_.async_wait(asio::bind_executor(tick_strand_, [this](boost::system::error_code ec) {
    if (!ec && !stopping_) Tick();
  }));
}

void TcpTransport::Impl::Tick() {
  try {
    Nanos now = Now();
    bool heartbeat = now >= next_heartbeat_;
    if (heartbeat) next_heartbeat_ = now + config_.heartbeat_interval;
    std::vector<std::pair<std::shared_ptr<Connection>, Intent>> posts;
    std::vector<std::shared_ptr<Connection>> to_close;
    {
      MutexLock l(&mu_);
      RecomputeLive();
      Membership::Action a = membership_.Evaluate(heartbeat);
      HandleAction(a, &posts);
      std::vector<uint8_t> hb;
      if (heartbeat) hb = EncodeHeartbeat(MakeHeartbeat());
      for (auto& [id, p] : peers_) {
        MutexLock pl(&p->mu);
        if (!p->conn || !p->conn->open_hint()) continue;
        if (now - p->last_heard > config_.dead_timeout) {
          to_close.push_back(p->conn);
        } else if (heartbeat) {
          posts.push_back({p->conn, Intent{FrameType::kHeartbeat, hb}});
        }
      }
    }
    for (auto& c : to_close) c->PostClose("nothing heard for dead_timeout");
    Post(&posts);
    for (auto& [id, p] : peers_) {
      if (self_ < id) Dial(p.get());
    }
  } catch (const std::exception& e) {
    COHORT_LOG_ERROR("net: tick: {}", e.what());
  }
  ArmTick();
}

void TcpTransport::Impl::Post(std::vector<std::pair<std::shared_ptr<Connection>, Intent>>* posts) {
  for (auto& [c, in] : *posts) c->PostIntent(std::move(in));
  posts->clear();
}

HeartbeatMsg TcpTransport::Impl::MakeHeartbeat() {
  HeartbeatMsg hb;
  hb.links = membership_.LinkIds();
  hb.view_generation = membership_.generation();
  hb.view = membership_.members();
  return hb;
}

void TcpTransport::Impl::RecomputeLive() {
  Nanos now = Now();
  std::vector<Member> live;
  for (auto& [id, p] : peers_) {
    MutexLock l(&p->mu);
    if (p->live_incarnation != 0 && now - p->last_heard <= config_.dead_timeout) {
      live.push_back(Member{id, p->live_incarnation});
    }
  }
  membership_.SetLive(std::move(live));
}

void TcpTransport::Impl::HandleAction(
    const Membership::Action& a,
    std::vector<std::pair<std::shared_ptr<Connection>, Intent>>* posts) {
  if (!a.installed) return;
  OnViewInstalled();
  if (a.propose) {
    std::vector<uint8_t> bytes = EncodePropose(*a.propose);
    for (const Member& m : a.propose->members) {
      Peer* p = FindPeer(m.id);
      if (p == nullptr) continue;
      MutexLock l(&p->mu);
      if (p->conn) posts->push_back({p->conn, Intent{FrameType::kPropose, bytes}});
    }
  }
}

void TcpTransport::Impl::OnViewInstalled() {
  MembershipView v = membership_.view();
  current_generation_ = v.generation;
  ++st_views;
  COHORT_LOG_INFO("net: node {} installs view {}", self_, v.ToString());
  Enqueue(DeliveryEvent{true, v, kNoNode, 0, {}});
  for (auto& [id, p] : peers_) {
    MutexLock l(&p->mu);
    // §6 rule 1: messages of older generations would be dropped by the receiver.
    std::erase_if(p->unacked,
                  [&](const OutMsg& m) { return m.generation < v.generation &&
                                                !options_.test_ignore_acks; });
    // §7.4 rule 2: held messages of this generation are delivered now, older dropped.
    bool member = v.Contains(id) && membership_.MemberIncarnation(id) == p->incarnation;
    while (!p->held.empty() && p->held.front().generation <= v.generation) {
      HeldMsg& h = p->held.front();
      if (h.generation == v.generation && member) {
        ++st_delivered;
        Enqueue(DeliveryEvent{false, {}, id, h.generation, std::move(h.payload)});
      } else {
        ++st_stale;
      }
      p->held.pop_front();
    }
  }
}

void TcpTransport::Impl::OnOpen(const std::shared_ptr<Connection>& c, Peer* peer,
                                uint64_t peer_inc, uint64_t their_known,
                                uint64_t their_recv_last, uint64_t* resend_from) {
  std::shared_ptr<Connection> old;
  std::vector<std::pair<std::shared_ptr<Connection>, Intent>> posts;
  {
    MutexLock l(&mu_);
    {
      MutexLock pl(&peer->mu);
      if (peer->conn && peer->conn != c) old = peer->conn;
      peer->conn = c;
      if (peer->incarnation != peer_inc) {
        if (peer->incarnation != 0) {
          COHORT_LOG_INFO("net: node {} restarted (incarnation {:x} -> {:x})",
                          peer->config.id, peer->incarnation, peer_inc);
        }
        peer->incarnation = peer_inc;
        peer->unacked.clear();
        peer->next_seq = 1;
        peer->recv_last = 0;
        peer->held.clear();
      }
      if (their_known == incarnation_ && !options_.test_ignore_acks) {
        while (!peer->unacked.empty() && peer->unacked.front().seq <= their_recv_last) {
          peer->unacked.pop_front();
        }
        *resend_from = their_recv_last + 1;
      } else {
        *resend_from = 0;
      }
      peer->last_heard = Now();
      peer->live_incarnation = peer_inc;
    }
    RecomputeLive();
    HandleAction(membership_.Evaluate(false), &posts);
    // Tell the peer at once who we see, so the coordinator need not wait a tick.
    posts.push_back({c, Intent{FrameType::kHeartbeat, EncodeHeartbeat(MakeHeartbeat())}});
  }
  if (old) old->PostClose("replaced by a new connection");
  Post(&posts);
}

void TcpTransport::Impl::OnClosed(Connection* c, Peer* peer) {
  MutexLock l(&peer->mu);
  if (peer->conn.get() == c) {
    peer->conn.reset();
    peer->next_dial = std::max(peer->next_dial, Now() + config_.reconnect_interval / 4);
  }
}

bool TcpTransport::Impl::OnAck(Peer* peer, uint64_t ack) {
  MutexLock l(&peer->mu);
  if (ack >= peer->next_seq) return false;
  if (options_.test_ignore_acks) return true;
  while (!peer->unacked.empty() && peer->unacked.front().seq <= ack) {
    peer->unacked.pop_front();
  }
  return true;
}

void TcpTransport::Impl::OnData(Peer* peer, uint64_t generation, uint64_t seq,
                                std::vector<uint8_t>* payload) {
  MutexLock l(&mu_);
  MutexLock pl(&peer->mu);
  if (seq <= peer->recv_last) {
    ++st_dups;
    return;  // the caller keeps its buffer
  }
  peer->recv_last = seq;
  uint64_t cur = membership_.generation();
  NodeId from = peer->config.id;
  if (!peer->held.empty() || generation > cur) {
    if (peer->held.size() >= kMaxHeldMessages) {
      COHORT_LOG_ERROR("net: too many messages from node {} held for a future generation",
                       from);
      peer->held.pop_front();
      ++st_stale;
    }
    peer->held.push_back(HeldMsg{generation, std::move(*payload)});
    payload->clear();  // moved-from: make it a valid empty buffer
    return;
  }
  if (generation == cur && membership_.MemberIncarnation(from) == peer->incarnation) {
    ++st_delivered;
    DeliveryEvent ev{false, {}, from, generation, std::move(*payload)};
    payload->clear();
    Enqueue(std::move(ev), payload);
  } else {
    ++st_stale;
  }
}

void TcpTransport::Impl::OnHeartbeat(Peer* peer, const HeartbeatMsg& hb) {
  std::vector<std::pair<std::shared_ptr<Connection>, Intent>> posts;
  {
    MutexLock l(&mu_);
    membership_.SetReport(peer->config.id, hb);
    HandleAction(membership_.Evaluate(false), &posts);
  }
  Post(&posts);
}

void TcpTransport::Impl::OnPropose(Peer* peer, const ProposeMsg& p) {
  MutexLock l(&mu_);
  if (membership_.OnPropose(peer->config.id, p)) {
    OnViewInstalled();
  } else {
    COHORT_LOG_DEBUG("net: node {} ignores proposal gen {:x} from {} ({})", self_,
                     p.generation, peer->config.id, membership_.DebugString());
  }
}

Status TcpTransport::Impl::Send(NodeId to, uint64_t generation, std::vector<uint8_t> payload) {
  if (payload.size() > Transport::kMaxPayload) {
    return Status::InvalidArgument("payload of " + std::to_string(payload.size()) + " bytes");
  }
  // After Stop() the I/O threads are gone but sockets may not be closed yet: a direct
  // write (§12) must not send on them.
  if (stopping_) return Status::Unavailable("transport stopped");
  std::shared_ptr<Connection> c;
  bool idle = false;  // nothing unacknowledged to `to`: no exchange in progress
  {
    MutexLock l(&mu_);
    if (generation != membership_.generation()) {
      return Status::Unavailable("generation " + std::to_string(generation) +
                                 " is not current");
    }
    if (membership_.MemberIncarnation(to) == 0) {
      return Status::Unavailable("node " + std::to_string(to) + " is not a member");
    }
    if (to == self_) {
      ++st_delivered;
      Enqueue(DeliveryEvent{false, {}, self_, generation, std::move(payload)});
      return Status::OK();
    }
    Peer* p = FindPeer(to);
    MutexLock pl(&p->mu);
    idle = p->unacked.empty();
    p->unacked.push_back(OutMsg{p->next_seq++, generation, std::move(payload)});
    c = p->conn;
  }
  if (!c) return Status::OK();  // written when the connection opens (§6)
  if (tl_corked != nullptr) {
    if (c->Cork()) tl_corked->push_back(std::move(c));  // written when the run ends
  } else if (idle) {
    c->WriteNow();  // the send fast path: written from this thread (§12)
  } else {
    c->Kick();  // a burst: the I/O thread writes what accumulates in one batch
  }
  return Status::OK();
}

void TcpTransport::Impl::Enqueue(DeliveryEvent ev, std::vector<uint8_t>* spare) {
  {
    MutexLock l(&dq_mu_);
    dq_.push_back(std::move(ev));
    if (spare != nullptr && !spare_payloads_.empty()) {
      *spare = std::move(spare_payloads_.back());
      spare_payloads_.pop_back();
    }
    if (!inline_delivery_) {
      dq_cv_.Signal();
      return;
    }
    if (drain_scheduled_) return;  // the scheduled or running Drain() will see it
    drain_scheduled_ = true;
    if (tl_drain_after_read != nullptr) {
      *tl_drain_after_read = true;  // run by Connection::OnReadDone after the strand
      return;
    }
  }
  // Posted, never run here: the caller may hold locks and Send() must not re-enter.
  // Not asio::defer(): measured slower (bench/net_bench.cc, one-cpu 40 -> 75 us).
  asio::post(io_, [this] { Drain(); });
}

void TcpTransport::Impl::FlushCorked(std::vector<std::shared_ptr<Connection>>* corked) {
  for (auto& c : *corked) {
    c->Uncork();  // before the write: a Send() after this point notes it again
    c->WriteNow();
  }
  corked->clear();
}

void TcpTransport::Impl::Drain() {
  // At most one Drain() is scheduled or running (drain_scheduled_), so handler calls
  // are serialized even with several I/O threads, and each Drain() observes the
  // previous one's effects through dq_mu_.
  // One list per thread, kept: no allocation per run of handler calls.
  thread_local std::vector<std::shared_ptr<Connection>> corked;
  tl_corked = &corked;
  DeliveryEvent ev;
  for (int i = 0; i < kMaxDeliveriesPerDrain; ++i) {
    {
      MutexLock l(&dq_mu_);
      KeepSpare(&ev.payload);  // the previous call's buffer, for the next read
      if (dq_.empty()) {
        drain_scheduled_ = false;
        break;
      }
      ev = std::move(dq_.front());
      dq_.pop_front();
    }
    Deliver(ev);
    if (i + 1 == kMaxDeliveriesPerDrain) {
      // Fairness: let reads, writes and ticks queued meanwhile run first.
      asio::post(io_, [this] { Drain(); });
    }
  }
  tl_corked = nullptr;
  FlushCorked(&corked);
}

void TcpTransport::Impl::Deliver(const DeliveryEvent& ev) {
  handler_since_ = Now();
  try {
    if (ev.is_view) {
      handler_->OnMembershipChange(ev.view);
    } else {
      handler_->OnMessage(ev.from, ev.generation, ev.payload);
    }
  } catch (const std::exception& e) {
    COHORT_LOG_ERROR("net: handler threw: {}", e.what());
  }
  handler_since_ = 0;
}

void TcpTransport::Impl::RescueLoop() {
  // Inline delivery: if a handler call outlasts `limit`, this thread runs the
  // io_context beside the stuck one until the call returns, so reads, writes, acks and
  // heartbeats go on; Drain() stays with the stuck call (drain_scheduled_), so handler
  // calls stay serialized. Otherwise it only wakes every limit / 2.
  // heartbeat_interval / 2 keeps the peers' view; the 50 ms cap bounds how long the
  // other connections' traffic waits behind a stuck call.
  const Nanos limit =
      std::clamp<Nanos>(config_.heartbeat_interval / 2, kNanosPerMilli, 50 * kNanosPerMilli);
  for (;;) {
    {
      MutexLock l(&dq_mu_);
      if (!dq_stop_) dq_cv_.WaitFor(std::chrono::nanoseconds(limit / 2));
      if (dq_stop_) return;
    }
    Nanos since = handler_since_.load();
    if (since == 0 || Now() - since < limit || stopping_) continue;
    ++st_rescues;
    COHORT_LOG_WARN("net: node {}: a handler call has run for {} ms (handlers must not "
                    "block); a spare thread runs the network until it returns",
                    self_, (Now() - since) / kNanosPerMilli);
    while (!stopping_ && handler_since_.load() == since) {
      try {
        io_.run_one_for(std::chrono::milliseconds(10));
      } catch (const std::exception& e) {
        COHORT_LOG_ERROR("net: exception escaped an Asio handler: {}", e.what());
      }
    }
  }
}

void TcpTransport::Impl::DeliveryLoop() {
  std::vector<std::shared_ptr<Connection>> corked;
  tl_corked = &corked;
  for (;;) {
    DeliveryEvent ev;
    bool flush = false, stop = false;
    {
      MutexLock l(&dq_mu_);
      if (dq_.empty() && !corked.empty()) {
        flush = true;  // the run of handler calls ended: write what they sent
      } else {
        while (dq_.empty() && !dq_stop_) dq_cv_.Wait();
        stop = dq_stop_;
        if (!stop) {
          ev = std::move(dq_.front());
          dq_.pop_front();
        }
      }
    }
    if (stop) break;
    if (flush) {
      FlushCorked(&corked);
      continue;
    }
    Deliver(ev);
  }
  tl_corked = nullptr;
}

std::string TcpTransport::Impl::DebugString() const {
  std::string s;
  for (auto& [id, p] : peers_) {
    MutexLock l(&p->mu);
    s += "peer " + std::to_string(id) + ": " +
         (p->conn ? (p->conn->open_hint() ? "open" : "connecting") : "none") +
         " inc=" + std::to_string(p->incarnation) + " next_seq=" +
         std::to_string(p->next_seq) + " unacked=" + std::to_string(p->unacked.size()) +
         " recv_last=" + std::to_string(p->recv_last) +
         " held=" + std::to_string(p->held.size()) + (p->blocked ? " BLOCKED" : "") + "\n";
  }
  MutexLock l(&mu_);
  return s + membership_.DebugString() + "\n";
}

void TcpTransport::Impl::BlockPeer(NodeId id, bool blocked) {
  Peer* p = FindPeer(id);
  if (p == nullptr) return;
  p->blocked = blocked;
  if (blocked) DropConnection(id);
}

void TcpTransport::Impl::DropConnection(NodeId id) {
  Peer* p = FindPeer(id);
  if (p == nullptr) return;
  std::shared_ptr<Connection> c;
  {
    MutexLock l(&p->mu);
    c = p->conn;
  }
  if (c) c->PostClose("dropped by test fault injection");
}

// ---------------------------------------------------------------------------------
// TcpTransport
// ---------------------------------------------------------------------------------

Result<std::unique_ptr<TcpTransport>> TcpTransport::Create(ClusterConfig config, NodeId self,
                                                           std::vector<uint8_t> key,
                                                           TcpTransportOptions options) {
  if (config.Find(self) == nullptr) {
    return Status::InvalidArgument("node " + std::to_string(self) +
                                   " is not in the cluster file");
  }
  if (key.size() < kMinKeyBytes) return Status::InvalidArgument("cluster key too short");
  return std::unique_ptr<TcpTransport>(new TcpTransport(
      std::make_unique<Impl>(std::move(config), self, std::move(key), options)));
}

TcpTransport::TcpTransport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TcpTransport::~TcpTransport() { Stop(); }
Status TcpTransport::Start() { return impl_->Start(); }
void TcpTransport::Stop() { impl_->Stop(); }
NodeId TcpTransport::self() const { return impl_->self_; }
void TcpTransport::SetHandler(TransportHandler* handler) { impl_->handler_ = handler; }
Status TcpTransport::Send(NodeId to, uint64_t generation, std::vector<uint8_t> payload) {
  return impl_->Send(to, generation, std::move(payload));
}
MembershipView TcpTransport::membership() const { return impl_->membership(); }
std::string TcpTransport::DebugString() const { return impl_->DebugString(); }
void TcpTransport::TEST_BlockPeer(NodeId peer, bool blocked) {
  impl_->BlockPeer(peer, blocked);
}
void TcpTransport::TEST_DropConnection(NodeId peer) { impl_->DropConnection(peer); }

TransportStats TcpTransport::stats() const {
  TransportStats s;
  s.connections_opened = impl_->st_opened;
  s.connections_closed = impl_->st_closed;
  s.protocol_errors = impl_->st_protocol;
  s.corruption_errors = impl_->st_corruption;
  s.auth_failures = impl_->st_auth;
  s.data_sent = impl_->st_data_sent;
  s.data_delivered = impl_->st_delivered;
  s.duplicates_dropped = impl_->st_dups;
  s.stale_dropped = impl_->st_stale;
  s.views_installed = impl_->st_views;
  s.stalled_handler_rescues = impl_->st_rescues;
  s.async_write_remainders = impl_->st_async_writes;
  return s;
}

}  // namespace cohort::net
