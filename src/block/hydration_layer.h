#pragma once

// Instant restore as a layer of the block stack: a request waits until every block of the
// hydrating image (hydrating_image.h) it touches is present. One that touches only present
// blocks (or replaces missing ones whole) goes on at once; one that needs a fetch is prepared
// on the stack's worker. Writes settle when they end, and a guest's flush that landed makes
// the list of present blocks durable.

#include <memory>

#include "block/hydrating_image.h"
#include "block/layer.h"

namespace haven::block {

class HydrationLayer final : public Layer {
 public:
  explicit HydrationLayer(std::unique_ptr<HydratingImage> image) : m_image(std::move(image)) {}

  HydratingImage& image() { return *m_image; }
  const HydratingImage& image() const { return *m_image; }

  bool admit(const Io& io) override;
  Result<void> prepare(const Io& io) override;
  void finished(const Io& io, bool landed) override;
  bool keeps_state() const override { return m_image->persistent() && !m_image->complete(); }
  Result<void> persist() override { return m_image->persist(); }

 private:
  std::unique_ptr<HydratingImage> m_image;
};

}  // namespace haven::block
