// tests/net/tcp_transport_test.cc: the TCP transport with several nodes in one process
// (real sockets on 127.x.y.z): views, quorum, partitions, reliable delivery across
// dropped connections, duplicate suppression, wrong keys, and every malformed or hostile
// frame (docs/wire-protocol.md §2.2, §5, §6, §7, §9) closing the connection without harm.
#include "net/tcp_transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <memory>
#include <thread>

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "common/coding.h"
#include "net/auth.h"
#include "net/frame.h"
#include "tests/net/test_util.h"

namespace cohort::net {
namespace {

using testing::ClusterFiles;
using testing::Recorder;

struct Node {
  Recorder rec;
  std::unique_ptr<TcpTransport> t;
};

class TcpTransportTest : public ::testing::Test {
 protected:
  void MakeFiles(int n, int dead_ms = 1500) {
    files_ = testing::MakeCluster(dir_.path(), n, 100, dead_ms, 50);
    Result<ClusterConfig> c = LoadClusterConfig(files_.cluster_file);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    config_ = *c;
    Result<std::vector<uint8_t>> k = LoadKeyFile(files_.key_file);
    ASSERT_TRUE(k.ok()) << k.status().ToString();
    key_ = *k;
  }

  Node* StartNode(NodeId id, std::vector<uint8_t> key = {}, TcpTransportOptions opts = {}) {
    auto n = std::make_unique<Node>();
    Result<std::unique_ptr<TcpTransport>> t =
        TcpTransport::Create(config_, id, key.empty() ? key_ : key, opts);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    if (!t.ok()) return nullptr;
    n->t = std::move(*t);
    n->t->SetHandler(&n->rec);
    Status s = n->t->Start();
    EXPECT_TRUE(s.ok()) << s.ToString();
    Node* raw = n.get();
    nodes_[id] = std::move(n);
    return raw;
  }

  // Waits until every node in `ids` shows the view `ids` (same generation everywhere).
  bool WaitAgree(const std::vector<NodeId>& ids, bool quorate) {
    for (int round = 0; round < 600; ++round) {
      bool ok = true;
      uint64_t gen = 0;
      for (NodeId id : ids) {
        MembershipView v = nodes_[id]->rec.LastView();
        if (v.members != ids || v.quorate != quorate || (gen != 0 && v.generation != gen)) {
          ok = false;
          break;
        }
        gen = v.generation;
      }
      if (ok) return true;
      usleep(100 * 1000);
    }
    for (NodeId id : ids) {
      ADD_FAILURE() << "node " << id << ": " << nodes_[id]->t->DebugString();
    }
    return false;
  }

  void TearDown() override {
    for (auto& [id, n] : nodes_) n->t->Stop();
    for (auto& [id, n] : nodes_) {
      EXPECT_FALSE(n->rec.generation_went_back()) << "node " << id;
    }
  }

  testing::TempDir dir_;
  ClusterFiles files_;
  ClusterConfig config_;
  std::vector<uint8_t> key_;
  std::map<NodeId, std::unique_ptr<Node>> nodes_;

  // Node 2 as a peer whose handler sends every message back (from its callback), and
  // node 1, both with `opts`; returns node 1 once both show the same view of both, with
  // its generation in *gen (nullptr after a test failure). Stop echo_t_ at the end.
  struct Echo : Recorder {
    Transport* t = nullptr;
    void OnMessage(NodeId from, uint64_t gen, std::span<const uint8_t> p) override {
      Recorder::OnMessage(from, gen, p);
      (void)t->Send(from, gen, {p.begin(), p.end()});
    }
  };
  Node* StartEchoPair(TcpTransportOptions opts, uint64_t* gen) {
    Node* a = StartNode(1, {}, opts);
    echo_ = std::make_unique<Echo>();
    Result<std::unique_ptr<TcpTransport>> bt = TcpTransport::Create(config_, 2, key_, opts);
    EXPECT_TRUE(bt.ok());
    if (!a || !bt.ok()) return nullptr;
    echo_t_ = std::move(*bt);
    echo_->t = echo_t_.get();
    echo_t_->SetHandler(echo_.get());
    EXPECT_TRUE(echo_t_->Start().ok());
    if (!a->rec.WaitFor([&] { return a->rec.last_view_locked().members.size() == 2; })) {
      ADD_FAILURE() << "node 1 never saw a view of both";
      return nullptr;
    }
    *gen = a->t->membership().generation;
    for (int i = 0; i < 50 && echo_t_->membership().generation != *gen; ++i) usleep(100000);
    return a;
  }
  std::unique_ptr<Echo> echo_;             // outlives echo_t_ (declared first)
  std::unique_ptr<TcpTransport> echo_t_;
};

TEST_F(TcpTransportTest, ThreeNodesFormOneQuorateView) {
  MakeFiles(3);
  for (NodeId id = 1; id <= 3; ++id) StartNode(id);
  EXPECT_TRUE(WaitAgree({1, 2, 3}, true));
}

TEST_F(TcpTransportTest, PartitionTwoThreeLeavesOnlyTheMajorityQuorateAndHeals) {
  MakeFiles(5);
  for (NodeId id = 1; id <= 5; ++id) StartNode(id);
  ASSERT_TRUE(WaitAgree({1, 2, 3, 4, 5}, true));
  for (NodeId a : {1, 2}) {
    for (NodeId b : {3, 4, 5}) {
      nodes_[a]->t->TEST_BlockPeer(b, true);
      nodes_[b]->t->TEST_BlockPeer(a, true);
    }
  }
  EXPECT_TRUE(WaitAgree({1, 2}, false));
  EXPECT_TRUE(WaitAgree({3, 4, 5}, true));
  for (NodeId a : {1, 2}) {
    for (NodeId b : {3, 4, 5}) {
      nodes_[a]->t->TEST_BlockPeer(b, false);
      nodes_[b]->t->TEST_BlockPeer(a, false);
    }
  }
  EXPECT_TRUE(WaitAgree({1, 2, 3, 4, 5}, true));
}

TEST_F(TcpTransportTest, StoppedNodeIsRemovedAndRestartedNodeRejoins) {
  MakeFiles(3);
  for (NodeId id = 1; id <= 3; ++id) StartNode(id);
  ASSERT_TRUE(WaitAgree({1, 2, 3}, true));
  nodes_[1]->t->Stop();  // the coordinator
  nodes_.erase(1);
  EXPECT_TRUE(WaitAgree({2, 3}, true));
  StartNode(1);
  EXPECT_TRUE(WaitAgree({1, 2, 3}, true));
}

TEST_F(TcpTransportTest, SendToSelfAndArgumentErrors) {
  MakeFiles(1);
  Node* n = StartNode(1);
  ASSERT_TRUE(n->rec.WaitFor([&] { return !n->rec.views_locked().empty(); }));
  MembershipView v = n->t->membership();
  EXPECT_TRUE(v.quorate);  // one node of one vote
  ASSERT_TRUE(n->t->Send(1, v.generation, {7, 8}).ok());
  ASSERT_TRUE(n->rec.WaitFor([&] { return n->rec.msgs_locked().size() == 1; }));
  EXPECT_EQ(n->rec.Messages()[0].payload, (std::vector<uint8_t>{7, 8}));
  EXPECT_TRUE(n->t->Send(1, v.generation + 1, {1}).Is(Code::kUnavailable));
  EXPECT_TRUE(n->t->Send(2, v.generation, {1}).Is(Code::kUnavailable));
  EXPECT_TRUE(n->t->Send(1, v.generation, std::vector<uint8_t>(Transport::kMaxPayload + 1))
                  .Is(Code::kInvalidArgument));
}

std::vector<uint8_t> Index(uint32_t i, size_t pad = 0) {
  std::vector<uint8_t> p(4 + pad, 0xab);
  EncodeFixed32(p.data(), i);
  return p;
}

// Checks that node `to` received exactly 0..n-1 from `from`, in order.
bool ReceivedInOrder(Node* to, NodeId from, uint32_t n) {
  bool done = to->rec.WaitFor([&] { return to->rec.msgs_locked().size() >= n; });
  std::vector<Recorder::Msg> msgs = to->rec.Messages();
  EXPECT_TRUE(done) << "got " << msgs.size() << " of " << n << "\n" << to->t->DebugString();
  EXPECT_EQ(msgs.size(), n);
  for (uint32_t i = 0; i < std::min<size_t>(n, msgs.size()); ++i) {
    if (msgs[i].from != from || DecodeFixed32(msgs[i].payload.data()) != i) {
      ADD_FAILURE() << "message " << i << " is " << DecodeFixed32(msgs[i].payload.data());
      return false;
    }
  }
  return done && msgs.size() == n;
}

TEST_F(TcpTransportTest, MessagesArriveExactlyOnceInOrderAcrossDroppedConnections) {
  MakeFiles(2, /*dead_ms=*/60000);  // a reconnect never changes the view here
  Node* a = StartNode(1);
  Node* b = StartNode(2);
  ASSERT_TRUE(WaitAgree({1, 2}, true));
  uint64_t gen = a->t->membership().generation;
  constexpr uint32_t kBatches = 10, kPerBatch = 500;
  for (uint32_t batch = 0; batch < kBatches; ++batch) {
    for (uint32_t i = 0; i < kPerBatch; ++i) {
      ASSERT_TRUE(a->t->Send(2, gen, Index(batch * kPerBatch + i, i % 3 == 0 ? 3000 : 10)).ok());
    }
    // Cut the connection from alternating sides while frames are in flight.
    (batch % 2 ? a : b)->t->TEST_DropConnection(batch % 2 ? 2 : 1);
  }
  EXPECT_TRUE(ReceivedInOrder(b, 1, kBatches * kPerBatch));
  EXPECT_EQ(b->t->membership().generation, gen);
  EXPECT_GT(a->t->stats().connections_opened, 1u);
}

// The send fast path (docs/wire-protocol.md §12): Send() writes from the calling
// thread. Several threads sending at once, with payloads larger than the socket buffer
// (a direct send() takes part, the I/O thread writes the rest) and a connection dropped
// meanwhile: every message arrives exactly once, each thread's in its order.
TEST_F(TcpTransportTest, ConcurrentSendersWritingDirectlyKeepOrderAndExactlyOnce) {
  MakeFiles(2, /*dead_ms=*/60000);
  TcpTransportOptions small_buffer;
  small_buffer.test_send_buffer_bytes = 8192;
  Node* a = StartNode(1, {}, small_buffer);
  Node* b = StartNode(2);
  ASSERT_TRUE(WaitAgree({1, 2}, true));
  uint64_t gen = a->t->membership().generation;
  constexpr uint32_t kThreads = 4, kPerThread = 1000;
  std::atomic<bool> send_failed{false};
  std::vector<std::thread> senders;
  for (uint32_t th = 0; th < kThreads; ++th) {
    senders.emplace_back([&, th] {
      for (uint32_t i = 0; i < kPerThread; ++i) {
        // Every 100th message is 256 KiB: more than one send() takes with this buffer.
        std::vector<uint8_t> p = Index(i, i % 100 == 7 ? 256 * 1024 : 8);
        EncodeFixed32(p.data() + 4, th);
        if (!a->t->Send(2, gen, std::move(p)).ok()) send_failed = true;
        if (th == 0 && i == kPerThread / 2) a->t->TEST_DropConnection(2);
      }
    });
  }
  for (auto& t : senders) t.join();
  EXPECT_FALSE(send_failed);
  constexpr uint32_t kTotal = kThreads * kPerThread;
  bool done = b->rec.WaitFor([&] { return b->rec.msgs_locked().size() >= kTotal; });
  std::vector<Recorder::Msg> msgs = b->rec.Messages();
  ASSERT_TRUE(done) << "got " << msgs.size() << " of " << kTotal << "\n" << b->t->DebugString();
  EXPECT_EQ(msgs.size(), kTotal);
  std::vector<uint32_t> next(kThreads, 0);
  for (const Recorder::Msg& m : msgs) {
    ASSERT_EQ(m.from, 1u);
    ASSERT_GE(m.payload.size(), 8u);
    uint32_t i = DecodeFixed32(m.payload.data()), th = DecodeFixed32(m.payload.data() + 4);
    ASSERT_LT(th, kThreads);
    ASSERT_EQ(i, next[th]) << "thread " << th << " out of order";
    ++next[th];
  }
  EXPECT_EQ(b->t->membership().generation, gen);
  EXPECT_GT(a->t->stats().async_write_remainders, 0u);  // the I/O thread finished some
}

TEST_F(TcpTransportTest, ResentDuplicatesAreDroppedByTheReceiver) {
  MakeFiles(2, 60000);
  TcpTransportOptions resend_all;
  resend_all.test_ignore_acks = true;
  Node* a = StartNode(1, {}, resend_all);
  Node* b = StartNode(2);
  ASSERT_TRUE(WaitAgree({1, 2}, true));
  uint64_t gen = a->t->membership().generation;
  for (uint32_t i = 0; i < 100; ++i) ASSERT_TRUE(a->t->Send(2, gen, Index(i)).ok());
  ASSERT_TRUE(ReceivedInOrder(b, 1, 100));
  uint64_t opened = a->t->stats().connections_opened;
  a->t->TEST_DropConnection(2);
  for (int i = 0; i < 600 && a->t->stats().connections_opened == opened; ++i) usleep(50000);
  for (uint32_t i = 100; i < 200; ++i) ASSERT_TRUE(a->t->Send(2, gen, Index(i)).ok());
  EXPECT_TRUE(ReceivedInOrder(b, 1, 200));
  EXPECT_GE(b->t->stats().duplicates_dropped, 100u);
}

TEST_F(TcpTransportTest, HandlerMaySendFromItsCallback) {
  MakeFiles(2, 60000);
  uint64_t gen = 0;
  Node* a = StartEchoPair({}, &gen);
  ASSERT_NE(a, nullptr);
  for (uint32_t i = 0; i < 20; ++i) ASSERT_TRUE(a->t->Send(2, gen, Index(i)).ok());
  EXPECT_TRUE(ReceivedInOrder(a, 2, 20));
  echo_t_->Stop();
}

TEST_F(TcpTransportTest, InlineDeliveryKeepsOrderViewsFirstAndAllowsSendFromHandler) {
  MakeFiles(2, 60000);
  TcpTransportOptions inl;
  inl.deliver_on_io_thread = true;
  uint64_t gen = 0;
  Node* a = StartEchoPair(inl, &gen);
  ASSERT_NE(a, nullptr);
  for (uint32_t i = 0; i < 500; ++i) ASSERT_TRUE(a->t->Send(2, gen, Index(i)).ok());
  ASSERT_TRUE(a->t->Send(1, gen, Index(0)).ok());  // to self, through the I/O thread
  EXPECT_TRUE(a->rec.WaitFor([&] { return a->rec.msgs_locked().size() == 501; }));
  std::vector<Recorder::Msg> msgs = a->rec.Messages();
  uint32_t next = 0;
  for (const Recorder::Msg& m : msgs) {
    if (m.from == 2) {
      EXPECT_EQ(DecodeFixed32(m.payload.data()), next++);
    }
  }
  EXPECT_EQ(next, 500u);
  echo_t_->Stop();
}

// Received payloads are read into buffers of earlier deliveries (docs/wire-protocol.md
// §12): payloads of varied sizes, some above the size of a kept buffer and some empty,
// echoed both ways, arrive byte for byte as sent.
TEST_F(TcpTransportTest, ReusedReceiveBuffersDeliverEveryPayloadIntactAcrossSizes) {
  MakeFiles(2, 60000);
  uint64_t gen = 0;
  Node* a = StartEchoPair({}, &gen);
  ASSERT_NE(a, nullptr);
  constexpr uint32_t kCount = 400;
  auto payload = [](uint32_t i) {
    size_t n = i % 7 == 0 ? 0 : (i * 389u) % 9000u;  // 0 .. 8999 bytes
    std::vector<uint8_t> p(n);
    for (size_t k = 0; k < n; ++k) p[k] = static_cast<uint8_t>(i * 31u + k * 7u);
    return p;
  };
  for (uint32_t i = 0; i < kCount; ++i) {
    ASSERT_TRUE(a->t->Send(2, gen, payload(i)).ok());
    if (i % 16 == 15) {  // let deliveries return their buffers between bursts
      ASSERT_TRUE(a->rec.WaitFor([&] { return a->rec.msgs_locked().size() == i + 1; }));
    }
  }
  ASSERT_TRUE(a->rec.WaitFor([&] { return a->rec.msgs_locked().size() == kCount; }));
  std::vector<Recorder::Msg> back = a->rec.Messages(), there = echo_->Messages();
  ASSERT_EQ(there.size(), kCount);
  for (uint32_t i = 0; i < kCount; ++i) {
    EXPECT_EQ(there[i].payload, payload(i)) << "node 2 got message " << i << " altered";
    EXPECT_EQ(back[i].payload, payload(i)) << "node 1 got echo " << i << " altered";
  }
  echo_t_->Stop();
}

TEST_F(TcpTransportTest, DeliveryThreadKeepsOrderAndAllowsSendFromHandler) {
  MakeFiles(2, 60000);
  TcpTransportOptions dt;
  dt.deliver_on_io_thread = false;  // the former default
  dt.io_threads = 2;
  uint64_t gen = 0;
  Node* a = StartEchoPair(dt, &gen);
  ASSERT_NE(a, nullptr);
  for (uint32_t i = 0; i < 500; ++i) ASSERT_TRUE(a->t->Send(2, gen, Index(i)).ok());
  EXPECT_TRUE(ReceivedInOrder(a, 2, 500));
  echo_t_->Stop();
}

// net/transport.h forbids handlers to block; one that does anyway (here for over three
// dead_timeouts) must not get its node declared dead: with the default inline delivery
// the rescue thread keeps reading and heartbeating, and the held deliveries resume in
// order when the call returns.
TEST_F(TcpTransportTest, BlockedHandlerDoesNotStallHeartbeatsAndDeliveryResumesInOrder) {
  MakeFiles(2, /*dead_ms=*/600);  // heartbeat 100 ms
  struct Blocking : Recorder {
    std::atomic<bool> block_next{true};
    void OnMessage(NodeId from, uint64_t gen, std::span<const uint8_t> p) override {
      if (block_next.exchange(false)) usleep(2000 * 1000);
      Recorder::OnMessage(from, gen, p);
    }
  };
  Node* a = StartNode(1);
  auto blocking = std::make_unique<Blocking>();
  Result<std::unique_ptr<TcpTransport>> bt = TcpTransport::Create(config_, 2, key_);
  ASSERT_TRUE(bt.ok());
  (*bt)->SetHandler(blocking.get());
  ASSERT_TRUE((*bt)->Start().ok());
  ASSERT_TRUE(a->rec.WaitFor([&] { return a->rec.last_view_locked().members.size() == 2; }));
  uint64_t gen = a->t->membership().generation;
  for (int i = 0; i < 50 && (*bt)->membership().generation != gen; ++i) usleep(100000);
  ASSERT_EQ((*bt)->membership().generation, gen);
  uint64_t views_a = a->t->stats().views_installed, views_b = (*bt)->stats().views_installed;
  uint64_t closed_a = a->t->stats().connections_closed;
  for (uint32_t i = 0; i < 20; ++i) ASSERT_TRUE(a->t->Send(2, gen, Index(i)).ok());
  EXPECT_TRUE(blocking->WaitFor([&] { return blocking->msgs_locked().size() == 20; }));
  std::vector<Recorder::Msg> msgs = blocking->Messages();
  for (uint32_t i = 0; i < msgs.size(); ++i) EXPECT_EQ(DecodeFixed32(msgs[i].payload.data()), i);
  // Neither side changed its view while node 2's handler was stuck.
  EXPECT_EQ(a->t->membership().generation, gen) << a->t->DebugString();
  EXPECT_EQ((*bt)->membership().generation, gen) << (*bt)->DebugString();
  EXPECT_EQ(a->t->stats().views_installed, views_a);
  EXPECT_EQ((*bt)->stats().views_installed, views_b);
  EXPECT_EQ(a->t->stats().connections_closed, closed_a);
  EXPECT_GE((*bt)->stats().stalled_handler_rescues, 1u);
  (*bt)->Stop();
}

TEST_F(TcpTransportTest, NodeWithWrongClusterKeyIsRefused) {
  MakeFiles(3);
  StartNode(1);
  StartNode(2);
  Node* bad = StartNode(3, std::vector<uint8_t>(32, 0x5a));
  ASSERT_TRUE(WaitAgree({1, 2}, true));
  ASSERT_TRUE(bad->rec.WaitFor([&] { return !bad->rec.views_locked().empty(); }));
  for (int i = 0; i < 600 && nodes_[1]->t->stats().auth_failures +
                                     bad->t->stats().auth_failures == 0; ++i) {
    usleep(50000);
  }
  EXPECT_GT(nodes_[1]->t->stats().auth_failures + nodes_[2]->t->stats().auth_failures +
                bad->t->stats().auth_failures, 0u);
  EXPECT_EQ(bad->rec.LastView().members, std::vector<NodeId>{3});
  EXPECT_EQ(bad->t->stats().connections_opened, 0u);
}

// ---- hostile peers: a raw socket client speaking (or breaking) the protocol ----

// What the process logged (docs/wire-protocol.md §2.2: every closing check failure is
// one WARN line). The sink is added once, before any transport thread logs, and never
// removed (spdlog's sink list must not change while other threads log).
std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> LogSink() {
  static auto sink = [] {
    auto s = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(4096);
    spdlog::default_logger()->sinks().push_back(s);
    return s;
  }();
  return sink;
}

class LogCapture {
 public:
  bool Contains(const std::string& needle) {
    for (const std::string& l : LogSink()->last_formatted()) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  }
};


class RawPeer {
 public:
  RawPeer(const NodeConfig& target, NodeId self, const std::vector<uint8_t>& key)
      : target_(target), self_(self), key_(key) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(target.port);
    inet_pton(AF_INET, target.host.c_str(), &sa.sin_addr);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  }
  ~RawPeer() { close(fd_); }
  bool connected() const { return connected_; }
  void ShutdownWrite() { shutdown(fd_, SHUT_WR); }

  void Write(const std::vector<uint8_t>& b) {
    size_t off = 0;
    while (off < b.size()) {
      ssize_t n = ::send(fd_, b.data() + off, b.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
  }
  // Reads exactly n bytes; false on close, error or a 30 s bound.
  bool Read(size_t n, std::vector<uint8_t>* out) {
    out->resize(n);
    size_t off = 0;
    while (off < n) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 30000) <= 0) return false;
      ssize_t r = ::recv(fd_, out->data() + off, n - off, 0);
      if (r <= 0) return false;
      off += static_cast<size_t>(r);
    }
    return true;
  }
  // True once the server closed the connection (EOF or reset) within 30 s.
  bool WaitClosed() {
    uint8_t buf[4096];
    for (int i = 0; i < 10000; ++i) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 30000) <= 0) return false;
      ssize_t r = ::recv(fd_, buf, sizeof buf, 0);
      if (r <= 0) return true;
    }
    return false;
  }

  FrameHeader Header(FrameType t) {
    FrameHeader h;
    h.type = t;
    h.sender = self_;
    h.receiver = target_.id;
    return h;
  }

  std::vector<uint8_t> HelloFrame(const MacKey& key) {
    hello_.cluster_name = "testcluster";
    hello_.incarnation = RandomNonZero64();
    EXPECT_TRUE(RandomBytes(hello_.nonce).ok());
    hello_bytes_ = EncodeHello(hello_);
    std::vector<uint8_t> f;
    EncodeFrame(Header(FrameType::kHello), hello_bytes_, MacInput{&key, false, 0}, &f);
    return f;
  }

  // Runs the dialer side of §5.2. Returns false if the server refused.
  bool Handshake() {
    Write(HelloFrame(key_));
    std::vector<uint8_t> hdr, payload;
    if (!Read(kHeaderBytes, &hdr)) return false;
    Result<FrameHeader> h = DecodeHeader(hdr);
    if (!h.ok() || h->type != FrameType::kChallenge) return false;
    if (!Read(h->length, &payload)) return false;
    if (!VerifyFrame(*h, hdr, payload, MacInput{&key_, false, 0}).ok()) return false;
    Result<ChallengeMsg> c = DecodeChallenge(payload);
    if (!c.ok()) return false;
    Digest proof = DialerProof(key_, hello_bytes_, payload);
    ResponseMsg r;
    std::copy(proof.begin(), proof.end(), r.proof.begin());
    std::vector<uint8_t> f;
    EncodeFrame(Header(FrameType::kResponse), EncodeResponse(r), MacInput{&key_, false, 0},
                &f);
    Write(f);
    SessionKeys k = DeriveSessionKeys(key_, hello_.nonce, c->nonce, self_, target_.id);
    session_ = std::make_unique<MacKey>(k.dialer_to_listener);
    return true;
  }

  // A post-handshake frame with header `h` (sender/receiver as given).
  std::vector<uint8_t> SessionFrameWith(const FrameHeader& h, std::span<const uint8_t> payload) {
    std::vector<uint8_t> f;
    EncodeFrame(h, payload, MacInput{session_.get(), true, counter_++}, &f);
    return f;
  }

  // A post-handshake frame MAC'd with the session key and the next counter.
  std::vector<uint8_t> SessionFrame(FrameType t, std::span<const uint8_t> payload,
                                    uint64_t seq = 0, uint64_t ack = 0) {
    FrameHeader h = Header(t);
    h.sequence = seq;
    h.ack = ack;
    std::vector<uint8_t> f;
    EncodeFrame(h, payload, MacInput{session_.get(), true, counter_++}, &f);
    return f;
  }

 private:
  NodeConfig target_;
  NodeId self_;
  MacKey key_;
  int fd_ = -1;
  bool connected_ = false;
  HelloMsg hello_;
  std::vector<uint8_t> hello_bytes_;
  std::unique_ptr<MacKey> session_;
  uint64_t counter_ = 0;
};

class HostilePeerTest : public TcpTransportTest {
 protected:
  void SetUp() override {
    LogSink();  // before any transport thread exists
    MakeFiles(3, 1000);
    StartNode(2);
    StartNode(3);
    ASSERT_TRUE(WaitAgree({2, 3}, true));
  }
  TcpTransport* target() { return nodes_[2]->t.get(); }
  const NodeConfig& target_config() { return *config_.Find(2); }
  // After any abuse the two real nodes still agree (the daemon did not crash or wedge).
  void TearDown() override {
    EXPECT_TRUE(WaitAgree({2, 3}, true));
    TcpTransportTest::TearDown();
  }
};

TEST_F(HostilePeerTest, GarbageBytesCloseTheConnection) {
  RawPeer p(target_config(), 1, key_);
  ASSERT_TRUE(p.connected());
  p.Write(std::vector<uint8_t>(kHeaderBytes, 0x77));
  EXPECT_TRUE(p.WaitClosed());
  EXPECT_GE(target()->stats().protocol_errors, 1u);
}

TEST_F(HostilePeerTest, WrongVersionClosesTheConnectionWithAWarning) {
  LogCapture log;
  RawPeer p(target_config(), 1, key_);
  MacKey k(key_);
  std::vector<uint8_t> f = p.HelloFrame(k);
  f[4] = 9;
  p.Write(f);
  EXPECT_TRUE(p.WaitClosed());
  EXPECT_GE(target()->stats().protocol_errors, 1u);
  EXPECT_TRUE(log.Contains("closing connection with unknown node"));
  EXPECT_TRUE(log.Contains("unsupported version 9"));
}

TEST_F(HostilePeerTest, OversizedLengthClosesTheConnectionWithoutReadingIt) {
  RawPeer p(target_config(), 1, key_);
  MacKey k(key_);
  std::vector<uint8_t> f = p.HelloFrame(k);
  EncodeFixed32(&f[8], 0x40000000);
  p.Write(std::vector<uint8_t>(f.begin(), f.begin() + kHeaderBytes));
  EXPECT_TRUE(p.WaitClosed());
  EXPECT_GE(target()->stats().protocol_errors, 1u);
}

TEST_F(HostilePeerTest, TruncatedFrameClosesTheConnection) {
  RawPeer p(target_config(), 1, key_);
  MacKey k(key_);
  std::vector<uint8_t> f = p.HelloFrame(k);
  f.resize(f.size() - 5);
  p.Write(f);
  p.ShutdownWrite();  // end of stream inside the payload
  EXPECT_TRUE(p.WaitClosed());
  EXPECT_GE(target()->stats().protocol_errors, 1u);
}

TEST_F(HostilePeerTest, WrongClusterKeyHelloIsRefused) {
  RawPeer p(target_config(), 1, key_);
  MacKey wrong(std::vector<uint8_t>(32, 1));
  p.Write(p.HelloFrame(wrong));
  EXPECT_TRUE(p.WaitClosed());
  EXPECT_GE(target()->stats().auth_failures, 1u);
}

TEST_F(HostilePeerTest, HelloFromHigherIdIsRefused) {
  RawPeer p(target_config(), 3, key_);
  MacKey k(key_);
  p.Write(p.HelloFrame(k));
  EXPECT_TRUE(p.WaitClosed());
  EXPECT_GE(target()->stats().protocol_errors, 1u);
}

TEST_F(HostilePeerTest, DataBeforeHandshakeClosesTheConnection) {
  RawPeer p(target_config(), 1, key_);
  MacKey k(key_);
  std::vector<uint8_t> f;
  FrameHeader h = p.Header(FrameType::kData);
  h.sequence = 1;
  EncodeFrame(h, std::vector<uint8_t>{1, 2, 3}, MacInput{&k, false, 0}, &f);
  p.Write(f);
  EXPECT_TRUE(p.WaitClosed());
  EXPECT_GE(target()->stats().protocol_errors, 1u);
}

TEST_F(HostilePeerTest, CorruptedFrameAfterHandshakeClosesWithCorruption) {
  RawPeer p(target_config(), 1, key_);
  ASSERT_TRUE(p.Handshake());
  std::vector<uint8_t> f = p.SessionFrame(FrameType::kData, std::vector<uint8_t>{1, 2, 3}, 1);
  f[kHeaderBytes + 1] ^= 0xff;
  p.Write(f);
  EXPECT_TRUE(p.WaitClosed());
  EXPECT_GE(target()->stats().corruption_errors, 1u);
}

TEST_F(HostilePeerTest, BadMacAfterHandshakeClosesWithAuthFailure) {
  RawPeer p(target_config(), 1, key_);
  ASSERT_TRUE(p.Handshake());
  std::vector<uint8_t> f = p.SessionFrame(FrameType::kAck, {});
  f[50] ^= 1;  // inside the MAC
  p.Write(f);
  EXPECT_TRUE(p.WaitClosed());
  EXPECT_GE(target()->stats().auth_failures, 1u);
}

TEST_F(HostilePeerTest, ReplayedFrameClosesTheConnectionWithAWarning) {
  LogCapture log;
  RawPeer p(target_config(), 1, key_);
  ASSERT_TRUE(p.Handshake());
  std::vector<uint8_t> f = p.SessionFrame(FrameType::kAck, {});
  p.Write(f);
  p.Write(f);  // the same bytes again: the counter moved, the MAC fails
  EXPECT_TRUE(p.WaitClosed());
  EXPECT_GE(target()->stats().auth_failures, 1u);
  EXPECT_TRUE(log.Contains("closing connection with node 1"));
  EXPECT_TRUE(log.Contains("AuthFailed: frame MAC mismatch"));
}

TEST_F(HostilePeerTest, AckBeyondAnythingSentClosesTheConnection) {
  RawPeer p(target_config(), 1, key_);
  ASSERT_TRUE(p.Handshake());
  p.Write(p.SessionFrame(FrameType::kAck, {}, 0, /*ack=*/1000));
  EXPECT_TRUE(p.WaitClosed());
  EXPECT_GE(target()->stats().protocol_errors, 1u);
}

TEST_F(HostilePeerTest, MalformedHeartbeatPayloadClosesTheConnection) {
  RawPeer p(target_config(), 1, key_);
  ASSERT_TRUE(p.Handshake());
  p.Write(p.SessionFrame(FrameType::kHeartbeat, std::vector<uint8_t>{0xff, 0xff}));
  EXPECT_TRUE(p.WaitClosed());
  EXPECT_GE(target()->stats().protocol_errors, 1u);
}

TEST_F(HostilePeerTest, SilentConnectionsAreBoundedAndClosedByTheHandshakeTimeout) {
  std::vector<std::unique_ptr<RawPeer>> peers;
  for (int i = 0; i < 100; ++i) {
    peers.push_back(std::make_unique<RawPeer>(target_config(), 1, key_));
    ASSERT_TRUE(peers.back()->connected());
  }
  for (auto& p : peers) EXPECT_TRUE(p->WaitClosed());  // refused, or timed out (1 s)
}

TEST_F(HostilePeerTest, DataOfOldGenerationOrFromNonMemberIsDroppedAndFutureIsHeld) {
  MembershipView v = target()->membership();  // {2,3}; node 1 is not a member
  uint64_t stale_before = target()->stats().stale_dropped;
  RawPeer p(target_config(), 1, key_);
  ASSERT_TRUE(p.Handshake());
  auto data = [&](uint64_t gen, uint64_t seq) {
    std::vector<uint8_t> payload{1, 2, 3};
    FrameHeader h = p.Header(FrameType::kData);
    h.generation = gen;
    h.sequence = seq;
    return p.SessionFrameWith(h, payload);
  };
  p.Write(data(v.generation, 1));       // current generation, but not from a member
  p.Write(data(v.generation - 1, 2));   // an older generation
  p.Write(data(v.generation + (1000 << 8), 3));  // a generation not installed yet: held
  for (int i = 0; i < 600 && target()->stats().stale_dropped < stale_before + 2; ++i) {
    usleep(10000);
  }
  EXPECT_GE(target()->stats().stale_dropped, stale_before + 2);
  for (int i = 0; i < 600 && target()->DebugString().find("held=1") == std::string::npos; ++i) {
    usleep(10000);
  }
  EXPECT_NE(target()->DebugString().find("held=1"), std::string::npos)
      << target()->DebugString();
  EXPECT_TRUE(nodes_[2]->rec.Messages().empty());
}

}  // namespace
}  // namespace cohort::net
