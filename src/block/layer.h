#pragma once

// One layer of a disk's block stack (stack.h): something that must happen before a guest's
// request reaches the image file (a block fetched from a backup, a block copied aside for a
// running backup, a changed block marked) and after it ended. The image file itself
// (image_file.h), read and written through the device's io_uring, is below every layer.

#include <cstdint>

#include "base/error.h"

namespace haven::block {

// A guest's request as the layers see it: what it does to which bytes of the disk.
struct Io {
  enum class Kind : uint8_t { read, write, flush, discard, write_zeroes };
  Kind kind = Kind::read;
  uint64_t offset = 0;
  uint64_t length = 0;
  bool unmap = false;  // a write-zeroes that may leave a hole (a discard always may)

  // Whether it changes what the disk holds.
  bool writes() const {
    return kind == Kind::write || kind == Kind::discard || kind == Kind::write_zeroes;
  }
};

class Layer {
 public:
  virtual ~Layer() = default;

  // On the device's I/O thread, before `io` goes to the image: takes it and returns true when
  // it needs no slow work (no fetch, no copy), doing the layer's bookkeeping for it; otherwise
  // changes nothing and returns false, and prepare() runs on the stack's worker instead. Must
  // not block.
  virtual bool admit(const Io& io) = 0;
  // On the stack's worker, for a request admit() did not take, or one an earlier layer sent
  // there: everything `io` needs before it goes to the image; may block. On failure the layer
  // leaves no bookkeeping behind, and the request fails without reaching the image.
  virtual Result<void> prepare(const Io& io) = 0;
  // On the device's I/O thread, once per request the layer took (admit or prepare), when its
  // I/O ended: `landed` false when it failed or was dropped (a device reset), or when a later
  // layer failed to prepare it.
  virtual void finished(const Io& /*io*/, bool /*landed*/) {}
  // Whether persist() has anything to make durable after a guest's flush landed.
  virtual bool keeps_state() const { return false; }
  // On the stack's worker, after a guest's flush landed: makes the layer's own state durable.
  virtual Result<void> persist() { return {}; }
};

}  // namespace haven::block
