// The VM config's firmware boot fields (firmware, cdrom, floppy, boot, nvram, boot_timeout):
// parsing, printing, the boot order and validation. Split from vm_config_test.cc, which holds
// the direct-boot and device fields and is long enough on its own.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "vmm/vm_config.h"

namespace haven::vmm {
namespace {

using json = nlohmann::json;

std::string error_of(std::string_view text) {
  auto config = vm_config_from_json(text);
  return config ? std::string("(parsed)") : config.error().message();
}

std::string validation_error(const VmConfig& config) {
  auto valid = validate(config);
  return valid ? std::string("(valid)") : valid.error().message();
}

TEST(VmConfigFirmware, FieldsFromJson) {
  auto config = vm_config_from_json(R"({"firmware": "uefi", "disks": [{"path": "/d.img"}],
      "cdrom": "/media/debian.iso", "boot": "cdrom,disk", "nvram": "/var/lib/vm1.fd",
      "boot_timeout": 120, "memory": "1G"})");
  ASSERT_TRUE(config) << config.error().message();
  EXPECT_EQ(config->firmware, Firmware::uefi);
  EXPECT_EQ(config->cdrom, "/media/debian.iso");
  EXPECT_FALSE(config->floppy);
  EXPECT_EQ(config->boot_order, (std::vector<BootDevice>{BootDevice::cdrom, BootDevice::disk}));
  EXPECT_EQ(config->nvram, "/var/lib/vm1.fd");
  EXPECT_EQ(config->boot_timeout, 120u);
  EXPECT_TRUE(config->kernel.empty());
  EXPECT_TRUE(validate(*config)) << validation_error(*config);
}

TEST(VmConfigFirmware, DefaultsAreDirectBootAndAMinuteToBoot) {
  VmConfig config;
  EXPECT_EQ(config.firmware, Firmware::none);
  EXPECT_EQ(config.boot_timeout, 60u);
  EXPECT_TRUE(config.boot_order.empty());
  config.kernel = "/k";
  json doc = json::parse(vm_config_to_json(config));
  for (const char* key : {"firmware", "cdrom", "floppy", "boot", "nvram", "boot_timeout"})
    EXPECT_FALSE(doc.contains(key)) << key << " printed for a directly booted guest";
}

void expect_same_firmware_fields(const VmConfig& a, const VmConfig& b) {
  EXPECT_EQ(a.firmware, b.firmware);
  EXPECT_EQ(a.cdrom, b.cdrom);
  EXPECT_EQ(a.floppy, b.floppy);
  EXPECT_EQ(a.boot_order, b.boot_order);
  EXPECT_EQ(a.nvram, b.nvram);
  EXPECT_EQ(a.boot_timeout, b.boot_timeout);
  EXPECT_EQ(a.disks, b.disks);
  EXPECT_EQ(a.memory, b.memory);
  EXPECT_EQ(a.kernel, b.kernel);
}

TEST(VmConfigFirmware, FieldsSurvivePrintingAndParsing) {
  VmConfig uefi;
  uefi.firmware = Firmware::uefi;
  uefi.disks = {{"/images/root.img", false, false}};
  uefi.cdrom = "/media/install image.iso";
  uefi.boot_order = {BootDevice::cdrom, BootDevice::disk};
  uefi.nvram = "/var/lib/haven/vm1.fd";
  uefi.boot_timeout = 0;
  VmConfig bios;
  bios.firmware = Firmware::bios;
  bios.floppy = "/images/dos.img";
  bios.disks = {{"/images/root.img", true, false}};
  bios.boot_order = {BootDevice::floppy};
  bios.boot_timeout = 86400;
  for (const VmConfig& config : {uefi, bios}) {
    std::string text = vm_config_to_json(config);
    auto parsed = vm_config_from_json(text);
    ASSERT_TRUE(parsed) << parsed.error().message() << "\n" << text;
    expect_same_firmware_fields(*parsed, config);
    EXPECT_EQ(vm_config_to_json(*parsed), text);
    EXPECT_TRUE(validate(*parsed)) << validation_error(*parsed);
    json doc = json::parse(text);
    EXPECT_FALSE(doc.contains("kernel")) << "a firmware guest has no kernel to print";
    EXPECT_FALSE(doc.contains("cmdline"));
  }
  json doc = json::parse(vm_config_to_json(uefi));
  EXPECT_EQ(doc["firmware"], "uefi");
  EXPECT_EQ(doc["boot"], json::parse(R"(["cdrom", "disk"])")) << "printed as a list";
  EXPECT_EQ(doc["boot_timeout"], 0);
}

TEST(VmConfigFirmware, BootOrderAsTextOrList) {
  auto config = vm_config_from_json(R"({"boot": ["floppy", "cdrom"]})");
  ASSERT_TRUE(config) << config.error().message();
  EXPECT_EQ(config->boot_order, (std::vector<BootDevice>{BootDevice::floppy, BootDevice::cdrom}));
  VmConfig base;
  base.boot_order = {BootDevice::cdrom};
  config = vm_config_from_json(R"({"boot": []})", base);
  ASSERT_TRUE(config) << config.error().message();
  EXPECT_TRUE(config->boot_order.empty()) << "an empty list clears it";
  for (const auto& [text, message] : std::initializer_list<std::pair<const char*, const char*>>{
           {R"({"boot": ""})", "field 'boot': '' is not one of disk, cdrom, floppy"},
           {R"({"boot": "disk,usb"})", "field 'boot': 'usb' is not one of disk, cdrom, floppy"},
           {R"({"boot": ["disk", "disk"]})", "field 'boot': 'disk' is named twice"},
           {R"({"boot": ["disk", 1]})", "field 'boot': expected names of devices"},
           {R"({"boot": [""]})", "field 'boot': '' is not one of disk, cdrom, floppy"},
           {R"({"boot": 1})", "field 'boot': expected \"disk,cdrom\" or [\"disk\", \"cdrom\"]"},
           {R"({"boot": {"disk": 1}})",
            "field 'boot': expected \"disk,cdrom\" or [\"disk\", \"cdrom\"]"},
       })
    EXPECT_EQ(error_of(text), message) << text;
}

TEST(VmConfigFirmware, ParseBootOrder) {
  EXPECT_EQ(*parse_boot_order("cdrom,disk"),
            (std::vector<BootDevice>{BootDevice::cdrom, BootDevice::disk}));
  EXPECT_EQ(*parse_boot_order("floppy,disk,cdrom"),
            (std::vector<BootDevice>{BootDevice::floppy, BootDevice::disk, BootDevice::cdrom}));
  EXPECT_EQ(*parse_boot_order("disk"), std::vector<BootDevice>{BootDevice::disk});
  for (const auto& [text, message] : std::initializer_list<std::pair<const char*, const char*>>{
           {"disk,cdrom,disk", "'disk' is named twice"},
           {"cdrom,cdrom", "'cdrom' is named twice"},
           {"net", "'net' is not one of disk, cdrom, floppy"},
           {"Disk", "'Disk' is not one of disk, cdrom, floppy"},
           {" disk", "' disk' is not one of disk, cdrom, floppy"},
           {"", "'' is not one of disk, cdrom, floppy"},
           {"disk,", "'' is not one of disk, cdrom, floppy"},
           {",disk", "'' is not one of disk, cdrom, floppy"},
           {"disk,,cdrom", "'' is not one of disk, cdrom, floppy"},
       }) {
    auto order = parse_boot_order(text);
    ASSERT_FALSE(order) << "'" << text << "' parsed";
    EXPECT_EQ(order.error().message(), message) << "'" << text << "'";
  }
}

TEST(VmConfigFirmware, NamesRoundTrip) {
  for (Firmware firmware : {Firmware::none, Firmware::bios, Firmware::uefi})
    EXPECT_EQ(*parse_firmware(firmware_name(firmware)), firmware);
  for (BootDevice device : {BootDevice::disk, BootDevice::cdrom, BootDevice::floppy})
    EXPECT_EQ(*parse_boot_order(boot_device_name(device)), std::vector<BootDevice>{device});
  auto bad = parse_firmware("coreboot");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(), "'coreboot' is not one of bios, uefi, none");
  EXPECT_EQ(error_of(R"({"firmware": "BIOS"})"),
            "field 'firmware': 'BIOS' is not one of bios, uefi, none");
  EXPECT_EQ(error_of(R"({"firmware": 1})"), "field 'firmware': expected a string");
}

TEST(VmConfigFirmware, EffectiveBootOrderIsTheGivenOrderThenTheRestOfWhatExists) {
  VmConfig config;
  config.firmware = Firmware::bios;
  EXPECT_TRUE(effective_boot_order(config).empty()) << "nothing to boot";
  config.disks = {{"/d.img", false, false}};
  config.cdrom = "/c.iso";
  EXPECT_EQ(effective_boot_order(config),
            (std::vector<BootDevice>{BootDevice::disk, BootDevice::cdrom}));
  config.boot_order = {BootDevice::cdrom};
  EXPECT_EQ(effective_boot_order(config),
            (std::vector<BootDevice>{BootDevice::cdrom, BootDevice::disk}));
  config.floppy = "/f.img";
  EXPECT_EQ(effective_boot_order(config),
            (std::vector<BootDevice>{BootDevice::cdrom, BootDevice::disk, BootDevice::floppy}));
  config.boot_order = {BootDevice::floppy, BootDevice::cdrom};
  config.disks.clear();
  EXPECT_EQ(effective_boot_order(config),
            (std::vector<BootDevice>{BootDevice::floppy, BootDevice::cdrom}));
  config.floppy.reset();  // named in the order, but absent: skipped
  EXPECT_EQ(effective_boot_order(config), std::vector<BootDevice>{BootDevice::cdrom});
}

VmConfig firmware_guest(Firmware firmware) {
  VmConfig config;
  config.firmware = firmware;
  config.disks = {{"/images/root.img", false, false}};
  return config;
}

TEST(VmConfigFirmware, ValidationRefusesMismatchedBootSettings) {
  EXPECT_EQ(validation_error(firmware_guest(Firmware::bios)), "(valid)");
  EXPECT_EQ(validation_error(firmware_guest(Firmware::uefi)), "(valid)");
  struct Case {
    std::function<void(VmConfig&)> change;
    Firmware firmware;
    const char* message;
  };
  for (const Case& c : std::initializer_list<Case>{
           {[](VmConfig& v) { v.kernel = "/boot/vmlinuz"; }, Firmware::bios,
            "kernel: a bios guest boots its own loader; give either a kernel (direct boot) or "
            "firmware"},
           {[](VmConfig& v) { v.initrd = "/boot/initrd.img"; }, Firmware::uefi,
            "initrd: a uefi guest boots its own loader"},
           {[](VmConfig& v) { v.disks.clear(); }, Firmware::bios,
            "bios firmware needs something to boot: a disk, a cdrom or a floppy"},
           {[](VmConfig& v) { v.floppy = "/f.img"; }, Firmware::uefi,
            "floppy: only the bios firmware boots floppies (OVMF has no floppy driver)"},
           {[](VmConfig& v) { v.nvram = "/v.fd"; }, Firmware::bios,
            "nvram: only a UEFI guest has one"},
           {[](VmConfig& v) {
              v.boot_order = {BootDevice::disk, BootDevice::cdrom};
            },
            Firmware::uefi, "boot: 'cdrom' is in the boot order but the guest has no cdrom"},
           {[](VmConfig& v) { v.boot_order = {BootDevice::floppy}; }, Firmware::bios,
            "boot: 'floppy' is in the boot order but the guest has no floppy"},
           {[](VmConfig& v) { v.cdrom = ""; }, Firmware::bios, "firmware media: an empty path"},
           {[](VmConfig& v) { v.nvram = ""; }, Firmware::uefi, "firmware media: an empty path"},
       }) {
    VmConfig config = firmware_guest(c.firmware);
    c.change(config);
    EXPECT_EQ(validation_error(config), c.message);
  }
}

TEST(VmConfigFirmware, AFloppyOrACdromAloneIsSomethingToBoot) {
  VmConfig config = firmware_guest(Firmware::bios);
  config.disks.clear();
  config.floppy = "/f.img";
  EXPECT_EQ(validation_error(config), "(valid)");
  config = firmware_guest(Firmware::uefi);
  config.disks.clear();
  config.cdrom = "/c.iso";
  EXPECT_EQ(validation_error(config), "(valid)");
}

// Haven loads kernels itself only; the media need firmware to boot from.
TEST(VmConfigFirmware, DirectBootRefusesFirmwareSettings) {
  VmConfig config;
  config.kernel = "/boot/vmlinuz";
  EXPECT_EQ(validation_error(config), "(valid)");
  config.cdrom = "/c.iso";
  EXPECT_EQ(validation_error(config), "cdrom: needs firmware (bios or uefi) to boot from it");
  config.cdrom.reset();
  config.floppy = "/f.img";
  EXPECT_EQ(validation_error(config), "floppy: needs the bios firmware to boot from it");
  config.floppy.reset();
  config.nvram = "/v.fd";
  EXPECT_EQ(validation_error(config), "nvram: only a UEFI guest has one");
  config.nvram.reset();
  config.boot_order = {BootDevice::disk};
  EXPECT_EQ(validation_error(config), "boot: only firmware follows a boot order");
}

TEST(VmConfigFirmware, TheChipsetTakesOnePciSlot) {
  // Firmware's PIIX3/PIIX4 sit at slot 1, so virtio devices start at 2: 30 slots, not 31.
  VmConfig config = firmware_guest(Firmware::bios);
  config.disks.assign(30, {"/d.img", true, false});
  EXPECT_EQ(validation_error(config), "(valid)");
  config.cdrom = "/c.iso";  // the CD-ROM's virtio-scsi controller needs a slot too
  EXPECT_EQ(validation_error(config), "devices: at most 30 disks, nets, rng and cdrom together");
  config.firmware = Firmware::none;
  config.cdrom.reset();
  config.kernel = "/k";
  config.disks.assign(31, {"/d.img", true, false});
  EXPECT_EQ(validation_error(config), "(valid)") << "31 for a directly booted guest";
}

TEST(VmConfigFirmware, BootTimeoutIsZeroToADayOfSeconds) {
  for (const char* text : {R"({"boot_timeout": 0})", R"({"boot_timeout": 86400})"})
    EXPECT_TRUE(vm_config_from_json(text)) << text;
  EXPECT_EQ(vm_config_from_json(R"({"boot_timeout": 86400})")->boot_timeout, 86400u);
  for (const char* text : {R"({"boot_timeout": 86401})", R"({"boot_timeout": -1})",
                           R"({"boot_timeout": 1.5})", R"({"boot_timeout": "60"})",
                           R"({"boot_timeout": 4294967356})", R"({"boot_timeout": null})"})
    EXPECT_EQ(error_of(text), "field 'boot_timeout': expected seconds from 0 (none) to 86400")
        << text;
}

TEST(VmConfigFirmware, MediaPathsMustBeStringsAndNotEmpty) {
  EXPECT_EQ(error_of(R"({"cdrom": ""})"), "field 'cdrom': expected a file path");
  EXPECT_EQ(error_of(R"({"floppy": ""})"), "field 'floppy': expected a file path");
  EXPECT_EQ(error_of(R"({"nvram": ""})"), "field 'nvram': expected a file path");
  EXPECT_EQ(error_of(R"({"cdrom": 5})"), "field 'cdrom': expected a string");
  EXPECT_EQ(error_of(R"({"nvram": ["/v.fd"]})"), "field 'nvram': expected a string");
  VmConfig base = firmware_guest(Firmware::uefi);
  base.cdrom = "/c.iso";
  base.nvram = "/v.fd";
  auto config = vm_config_from_json(R"({"cdrom": null, "nvram": null})", base);
  ASSERT_TRUE(config) << config.error().message();
  EXPECT_FALSE(config->cdrom) << "null clears the base's";
  EXPECT_FALSE(config->nvram);
}

TEST(VmConfigFirmware, AnOverlayCanSwitchBetweenFirmwareAndDirectBoot) {
  VmConfig base = firmware_guest(Firmware::uefi);
  auto config = vm_config_from_json(R"({"firmware": "none", "kernel": "/k"})", base);
  ASSERT_TRUE(config) << config.error().message();
  EXPECT_EQ(config->firmware, Firmware::none);
  EXPECT_TRUE(validate(*config)) << validation_error(*config);
  config = vm_config_from_json(R"({"firmware": "bios"})", *config);
  ASSERT_TRUE(config);
  EXPECT_EQ(validation_error(*config),
            "kernel: a bios guest boots its own loader; give either a kernel (direct boot) or "
            "firmware");
}

}  // namespace
}  // namespace haven::vmm
