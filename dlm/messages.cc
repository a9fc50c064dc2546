// dlm/messages.cc: encoder and decoder of the DLM messages (docs/dlm.md §8).
#include "dlm/messages.h"

#include "common/coding.h"

namespace cohort::dlm {

namespace {

void PutKey(Writer& w, const std::string& key) { w.String16(key); }
void PutRange(Writer& w, const Range& r) {
  w.U64(r.start);
  w.U64(r.end);
}
void PutLvb(Writer& w, const std::optional<Lvb>& lvb) {
  w.U8(lvb ? 1 : 0);
  if (lvb) w.Bytes(std::span<const uint8_t>(lvb->data(), lvb->size()));
}
void PutMode(Writer& w, LockMode m) { w.U8(static_cast<uint8_t>(m)); }
void PutOp(Writer& w, const OpFields& f) {
  w.U8(static_cast<uint8_t>(f.op));
  w.U32(f.seq);
  PutMode(w, f.mode);
  w.U32(f.flags);
  PutRange(w, f.range);
  PutLvb(w, f.lvb);
  w.U8(static_cast<uint8_t>(f.cancel_status));
}

Status GetKey(Reader& r, std::string* key) {
  COHORT_RETURN_IF_ERROR(r.String16(key, kMaxKeyLen));
  if (key->empty()) return Status::Protocol("empty resource key");
  return Status::OK();
}
Status GetRange(Reader& r, Range* out) {
  COHORT_RETURN_IF_ERROR(r.U64(&out->start));
  COHORT_RETURN_IF_ERROR(r.U64(&out->end));
  if (!out->Valid()) return Status::Protocol("range start > end");
  return Status::OK();
}
Status GetLvb(Reader& r, std::optional<Lvb>* out) {
  uint8_t present = 0;
  COHORT_RETURN_IF_ERROR(r.U8(&present));
  if (present > 1) return Status::Protocol("bad lvb flag");
  if (present) {
    Lvb l{};
    COHORT_RETURN_IF_ERROR(r.CopyTo(l.data(), l.size()));
    *out = l;
  } else {
    out->reset();
  }
  return Status::OK();
}
Status GetMode(Reader& r, LockMode* m, bool allow_none) {
  uint8_t v = 0;
  COHORT_RETURN_IF_ERROR(r.U8(&v));
  *m = static_cast<LockMode>(v);
  if (IsValidMode(*m) || (allow_none && *m == LockMode::kNone)) return Status::OK();
  return Status::Protocol("bad lock mode");
}
Status GetCode(Reader& r, Code* c) {
  uint8_t v = 0;
  COHORT_RETURN_IF_ERROR(r.U8(&v));
  if (v >= kNumCodes) return Status::Protocol("bad status code");
  *c = static_cast<Code>(v);
  return Status::OK();
}
Status GetOp(Reader& r, OpFields* f, bool allow_none) {
  uint8_t op = 0;
  COHORT_RETURN_IF_ERROR(r.U8(&op));
  if (op > 4 || (!allow_none && op == 0)) return Status::Protocol("bad op");
  f->op = static_cast<OpKind>(op);
  COHORT_RETURN_IF_ERROR(r.U32(&f->seq));
  COHORT_RETURN_IF_ERROR(GetMode(r, &f->mode, true));
  COHORT_RETURN_IF_ERROR(r.U32(&f->flags));
  if (f->flags & ~kAllLockFlags) return Status::Protocol("unknown flags");
  COHORT_RETURN_IF_ERROR(GetRange(r, &f->range));
  COHORT_RETURN_IF_ERROR(GetLvb(r, &f->lvb));
  return GetCode(r, &f->cancel_status);
}

struct BodyEncoder {
  Writer& w;
  void operator()(const LookupMsg& m) { PutKey(w, m.key); }
  void operator()(const LookupReplyMsg& m) {
    PutKey(w, m.key);
    w.U32(m.master);
  }
  void operator()(const RequestMsg& m) {
    PutKey(w, m.key);
    w.U64(m.lkid);
    w.U64(m.owner);
    PutOp(w, m.f);
  }
  void operator()(const ReplyMsg& m) {
    w.U64(m.lkid);
    w.U32(m.op_seq);
    w.U8(static_cast<uint8_t>(m.kind));
    w.U8(static_cast<uint8_t>(m.status));
    PutMode(w, m.mode);
    PutRange(w, m.range);
    w.U8(m.sbflags);
    PutLvb(w, m.lvb);
  }
  void operator()(const BastMsg& m) {
    w.U64(m.lkid);
    PutMode(w, m.mode);
  }
  void operator()(const DirAddMsg& m) {
    PutKey(w, m.key);
    w.U32(m.master);
  }
  void operator()(const DirRemoveMsg& m) {
    PutKey(w, m.key);
    w.U32(m.master);
  }
  void operator()(const RecoverDoneMsg& m) {
    w.U64(m.generation);
    w.U8(m.phase);
  }
  void operator()(const RecoverLocksMsg& m) {
    PutKey(w, m.key);
    w.U16(static_cast<uint16_t>(m.entries.size()));
    for (const RecoverEntry& e : m.entries) {
      w.U64(e.lkid);
      w.U64(e.owner);
      w.U32(e.flags);
      w.U8(static_cast<uint8_t>(e.queue));
      PutMode(w, e.grmode);
      PutRange(w, e.grange);
      PutMode(w, e.rqmode);
      PutRange(w, e.rqrange);
      w.U32(e.op_seq);
      w.U64(e.lvb_seq);
      PutLvb(w, e.lvb);
      PutOp(w, e.inflight);
    }
  }
  void operator()(const DdQueryMsg& m) { w.U64(m.round); }
  void operator()(const DdEdgesMsg& m) {
    w.U64(m.round);
    w.U32(static_cast<uint32_t>(m.edges.size()));
    for (const DdEdge& e : m.edges) {
      w.U64(e.waiter);
      w.U32(e.waiter_seq);
      w.U64(e.waiter_owner);
      w.U64(e.holder);
      w.U64(e.holder_grant_seq);
      w.U64(e.holder_owner);
    }
  }
  void operator()(const DdDenyMsg& m) {
    w.U64(m.lkid);
    w.U32(m.op_seq);
  }
};

Result<Message> DecodeBody(MsgType type, Reader& r) {
  switch (type) {
    case MsgType::kLookup: {
      LookupMsg m;
      COHORT_RETURN_IF_ERROR(GetKey(r, &m.key));
      return Message(std::move(m));
    }
    case MsgType::kLookupReply: {
      LookupReplyMsg m;
      COHORT_RETURN_IF_ERROR(GetKey(r, &m.key));
      COHORT_RETURN_IF_ERROR(r.U32(&m.master));
      return Message(std::move(m));
    }
    case MsgType::kRequest: {
      RequestMsg m;
      COHORT_RETURN_IF_ERROR(GetKey(r, &m.key));
      COHORT_RETURN_IF_ERROR(r.U64(&m.lkid));
      COHORT_RETURN_IF_ERROR(r.U64(&m.owner));
      COHORT_RETURN_IF_ERROR(GetOp(r, &m.f, false));
      return Message(std::move(m));
    }
    case MsgType::kReply: {
      ReplyMsg m;
      uint8_t kind = 0;
      COHORT_RETURN_IF_ERROR(r.U64(&m.lkid));
      COHORT_RETURN_IF_ERROR(r.U32(&m.op_seq));
      COHORT_RETURN_IF_ERROR(r.U8(&kind));
      if (kind < 1 || kind > 3) return Status::Protocol("bad reply kind");
      m.kind = static_cast<ReplyKind>(kind);
      COHORT_RETURN_IF_ERROR(GetCode(r, &m.status));
      COHORT_RETURN_IF_ERROR(GetMode(r, &m.mode, true));
      COHORT_RETURN_IF_ERROR(GetRange(r, &m.range));
      COHORT_RETURN_IF_ERROR(r.U8(&m.sbflags));
      COHORT_RETURN_IF_ERROR(GetLvb(r, &m.lvb));
      return Message(std::move(m));
    }
    case MsgType::kBast: {
      BastMsg m;
      COHORT_RETURN_IF_ERROR(r.U64(&m.lkid));
      COHORT_RETURN_IF_ERROR(GetMode(r, &m.mode, false));
      return Message(m);
    }
    case MsgType::kDirAdd: {
      DirAddMsg m;
      COHORT_RETURN_IF_ERROR(GetKey(r, &m.key));
      COHORT_RETURN_IF_ERROR(r.U32(&m.master));
      return Message(std::move(m));
    }
    case MsgType::kDirRemove: {
      DirRemoveMsg m;
      COHORT_RETURN_IF_ERROR(GetKey(r, &m.key));
      COHORT_RETURN_IF_ERROR(r.U32(&m.master));
      return Message(std::move(m));
    }
    case MsgType::kRecoverDone: {
      RecoverDoneMsg m;
      COHORT_RETURN_IF_ERROR(r.U64(&m.generation));
      COHORT_RETURN_IF_ERROR(r.U8(&m.phase));
      if (m.phase < 1 || m.phase > 2) return Status::Protocol("bad recovery phase");
      return Message(m);
    }
    case MsgType::kRecoverLocks: {
      RecoverLocksMsg m;
      uint16_t n = 0;
      COHORT_RETURN_IF_ERROR(GetKey(r, &m.key));
      COHORT_RETURN_IF_ERROR(r.U16(&n));
      // Each entry is at least 80 bytes: a count larger than the rest is a lie.
      if (static_cast<size_t>(n) * 80 > r.remaining()) {
        return Status::Corruption("recover entry count exceeds payload");
      }
      m.entries.resize(n);
      for (RecoverEntry& e : m.entries) {
        uint8_t q = 0;
        COHORT_RETURN_IF_ERROR(r.U64(&e.lkid));
        COHORT_RETURN_IF_ERROR(r.U64(&e.owner));
        COHORT_RETURN_IF_ERROR(r.U32(&e.flags));
        COHORT_RETURN_IF_ERROR(r.U8(&q));
        if (q > 3) return Status::Protocol("bad queue kind");
        e.queue = static_cast<QueueKind>(q);
        COHORT_RETURN_IF_ERROR(GetMode(r, &e.grmode, true));
        COHORT_RETURN_IF_ERROR(GetRange(r, &e.grange));
        COHORT_RETURN_IF_ERROR(GetMode(r, &e.rqmode, true));
        COHORT_RETURN_IF_ERROR(GetRange(r, &e.rqrange));
        COHORT_RETURN_IF_ERROR(r.U32(&e.op_seq));
        COHORT_RETURN_IF_ERROR(r.U64(&e.lvb_seq));
        COHORT_RETURN_IF_ERROR(GetLvb(r, &e.lvb));
        COHORT_RETURN_IF_ERROR(GetOp(r, &e.inflight, true));
      }
      return Message(std::move(m));
    }
    case MsgType::kDdQuery: {
      DdQueryMsg m;
      COHORT_RETURN_IF_ERROR(r.U64(&m.round));
      return Message(m);
    }
    case MsgType::kDdEdges: {
      DdEdgesMsg m;
      uint32_t n = 0;
      COHORT_RETURN_IF_ERROR(r.U64(&m.round));
      COHORT_RETURN_IF_ERROR(r.U32(&n));
      if (static_cast<uint64_t>(n) * 44 > r.remaining()) {
        return Status::Corruption("edge count exceeds payload");
      }
      m.edges.resize(n);
      for (DdEdge& e : m.edges) {
        COHORT_RETURN_IF_ERROR(r.U64(&e.waiter));
        COHORT_RETURN_IF_ERROR(r.U32(&e.waiter_seq));
        COHORT_RETURN_IF_ERROR(r.U64(&e.waiter_owner));
        COHORT_RETURN_IF_ERROR(r.U64(&e.holder));
        COHORT_RETURN_IF_ERROR(r.U64(&e.holder_grant_seq));
        COHORT_RETURN_IF_ERROR(r.U64(&e.holder_owner));
      }
      return Message(std::move(m));
    }
    case MsgType::kDdDeny: {
      DdDenyMsg m;
      COHORT_RETURN_IF_ERROR(r.U64(&m.lkid));
      COHORT_RETURN_IF_ERROR(r.U32(&m.op_seq));
      return Message(m);
    }
  }
  return Status::Protocol("unknown message type");
}

}  // namespace

MsgType TypeOf(const Message& m) {
  // The variant's alternatives are in MsgType order starting at 1.
  return static_cast<MsgType>(m.index() + 1);
}

std::vector<uint8_t> EncodeMessage(const Message& m) {
  std::vector<uint8_t> out;
  out.reserve(64);
  Writer w(&out);
  w.U16(kMsgMagic);
  w.U8(kMsgVersion);
  w.U8(static_cast<uint8_t>(TypeOf(m)));
  w.U32(0);  // body length, patched below
  std::visit(BodyEncoder{w}, m);
  uint32_t body = static_cast<uint32_t>(out.size() - kMsgHeaderSize);
  for (int i = 0; i < 4; ++i) out[4 + i] = static_cast<uint8_t>(body >> (8 * i));
  return out;
}

Result<Message> DecodeMessage(std::span<const uint8_t> payload) {
  Reader r(payload);
  uint16_t magic = 0;
  uint8_t version = 0, type = 0;
  uint32_t len = 0;
  COHORT_RETURN_IF_ERROR(r.U16(&magic));
  COHORT_RETURN_IF_ERROR(r.U8(&version));
  COHORT_RETURN_IF_ERROR(r.U8(&type));
  COHORT_RETURN_IF_ERROR(r.U32(&len));
  if (magic != kMsgMagic) return Status::Protocol("bad dlm message magic");
  if (version != kMsgVersion) return Status::Protocol("unsupported dlm message version");
  if (type < 1 || type > 12) return Status::Protocol("unknown dlm message type");
  if (len != r.remaining()) return Status::Corruption("dlm body length mismatch");
  COHORT_ASSIGN_OR_RETURN(Message m, DecodeBody(static_cast<MsgType>(type), r));
  COHORT_RETURN_IF_ERROR(r.ExpectEnd());
  return m;
}

}  // namespace cohort::dlm
