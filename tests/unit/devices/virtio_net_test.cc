#include "devices/virtio/net.h"

#include <gtest/gtest.h>
#include <linux/if_tun.h>

namespace haven::devices::virtio {
namespace {

// What the TAP may send the guest follows what the guest negotiated: nothing it cannot take
// (a guest without checksum offload must get checksummed, unsegmented frames).
TEST(VirtioNet, TapOffloadsFollowTheGuestsFeatures) {
  EXPECT_EQ(Net::tap_offloads(0), 0u);
  EXPECT_EQ(Net::tap_offloads(Net::kFeatureGuestCsum), unsigned{TUN_F_CSUM});
  EXPECT_EQ(Net::tap_offloads(Net::kFeatureGuestCsum | Net::kFeatureGuestTso4),
            unsigned{TUN_F_CSUM | TUN_F_TSO4});
  EXPECT_EQ(Net::tap_offloads(Net::kFeatureGuestCsum | Net::kFeatureGuestTso6),
            unsigned{TUN_F_CSUM | TUN_F_TSO6});
  EXPECT_EQ(Net::tap_offloads(Net::kFeatureGuestCsum | Net::kFeatureGuestTso4 |
                              Net::kFeatureGuestTso6 | Net::kFeatureGuestEcn),
            unsigned{TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN});
  // Segmentation without checksum offload cannot be: the TAP would refuse it.
  EXPECT_EQ(Net::tap_offloads(Net::kFeatureGuestTso4 | Net::kFeatureGuestTso6), 0u);
  // ECN only with segmentation.
  EXPECT_EQ(Net::tap_offloads(Net::kFeatureGuestCsum | Net::kFeatureGuestEcn),
            unsigned{TUN_F_CSUM});
  // The host-side features (what the guest may send) change nothing here.
  EXPECT_EQ(Net::tap_offloads(Net::kFeatureCsum | Net::kFeatureHostTso4 | Net::kFeatureHostTso6 |
                              Net::kFeatureHostEcn),
            0u);
}

}  // namespace
}  // namespace haven::devices::virtio
