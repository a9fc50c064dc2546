// tests/net/net_testd.cc: a test daemon that runs one TcpTransport and is driven over
// its standard input, one command per line (docs/wire-protocol.md §11):
//
//   block N | unblock N | drop N     fault injection towards node N
//   send N COUNT TAG                 sends "TAG:0" .. "TAG:COUNT-1" to N (current view)
//   debug                            prints the transport's DebugString to stderr
//   quit                             stops (so does end of input)
//
// It prints to standard output, one event per line, flushed:
//   READY
//   VIEW <generation> <id,id,...> quorate|inquorate
//   MSG <from> <generation> <payload text>
//   SENT <count> <generation>  |  SENDFAIL <status>
#include <sys/prctl.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>

#include "common/logging.h"
#include "net/auth.h"
#include "net/cluster_config.h"
#include "net/tcp_transport.h"

namespace {

using namespace cohort;       // NOLINT
using namespace cohort::net;  // NOLINT

std::mutex out_mu;

void Emit(const std::string& line) {
  std::lock_guard<std::mutex> l(out_mu);
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

class Printer : public TransportHandler {
 public:
  void OnMessage(NodeId from, uint64_t generation, std::span<const uint8_t> p) override {
    Emit("MSG " + std::to_string(from) + " " + std::to_string(generation) + " " +
         std::string(p.begin(), p.end()));
  }
  void OnMembershipChange(const MembershipView& v) override {
    std::string ids;
    for (NodeId id : v.members) ids += (ids.empty() ? "" : ",") + std::to_string(id);
    Emit("VIEW " + std::to_string(v.generation) + " " + ids + " " +
         (v.quorate ? "quorate" : "inquorate"));
  }
};

int Run(int argc, char** argv) {
  std::string cluster;
  NodeId self = 0;
  LogLevel level = LogLevel::kInfo;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--cluster") cluster = argv[i + 1];
    else if (a == "--node") self = static_cast<NodeId>(std::stoul(argv[i + 1]));
    else if (a == "--log") ParseLogLevel(argv[i + 1], &level);
  }
  InitLogging("net_testd", level);
  SetLogNode("n" + std::to_string(self));
  Result<ClusterConfig> config = LoadClusterConfig(cluster);
  if (!config.ok()) {
    std::fprintf(stderr, "net_testd: %s\n", config.status().ToString().c_str());
    return 2;
  }
  Result<std::vector<uint8_t>> key = LoadKeyFile(config->key_file);
  if (!key.ok()) {
    std::fprintf(stderr, "net_testd: %s\n", key.status().ToString().c_str());
    return 2;
  }
  Result<std::unique_ptr<TcpTransport>> t = TcpTransport::Create(*config, self, *key);
  if (!t.ok()) {
    std::fprintf(stderr, "net_testd: %s\n", t.status().ToString().c_str());
    return 2;
  }
  Printer printer;
  (*t)->SetHandler(&printer);
  Status s = (*t)->Start();
  if (!s.ok()) {
    std::fprintf(stderr, "net_testd: %s\n", s.ToString().c_str());
    return 3;
  }
  Emit("READY");
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string cmd;
    in >> cmd;
    NodeId n = 0;
    if (cmd == "block" && in >> n) {
      (*t)->TEST_BlockPeer(n, true);
    } else if (cmd == "unblock" && in >> n) {
      (*t)->TEST_BlockPeer(n, false);
    } else if (cmd == "drop" && in >> n) {
      (*t)->TEST_DropConnection(n);
    } else if (cmd == "send") {
      uint64_t count = 0;
      std::string tag;
      in >> n >> count >> tag;
      uint64_t gen = (*t)->membership().generation;
      uint64_t sent = 0;
      Status st;
      for (uint64_t i = 0; i < count && st.ok(); ++i) {
        std::string p = tag + ":" + std::to_string(i);
        st = (*t)->Send(n, gen, std::vector<uint8_t>(p.begin(), p.end()));
        if (st.ok()) ++sent;
      }
      Emit(st.ok() ? "SENT " + std::to_string(sent) + " " + std::to_string(gen)
                   : "SENDFAIL " + st.ToString());
    } else if (cmd == "debug") {
      std::fprintf(stderr, "%s", (*t)->DebugString().c_str());
    } else if (cmd == "quit") {
      break;
    }
  }
  (*t)->Stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // A test daemon must never outlive the test that started it.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "net_testd: %s\n", e.what());
    return 1;
  }
}
