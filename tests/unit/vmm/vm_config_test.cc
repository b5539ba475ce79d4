#include "vmm/vm_config.h"

#include <gtest/gtest.h>

namespace haven::vmm {
namespace {

std::string error_of(std::string_view json) {
  auto config = vm_config_from_json(json);
  return config ? std::string("(parsed)") : config.error().message();
}

TEST(VmConfig, AFullConfigRoundTrips) {
  auto config = vm_config_from_json(R"({"kernel": "/k", "initrd": "/i", "cmdline": "quiet",
      "memory": "1G", "cpus": 4, "console": "socket:/run/vm.sock", "on_reboot": "restart"})");
  ASSERT_TRUE(config) << config.error().message();
  EXPECT_EQ(config->kernel, "/k");
  EXPECT_EQ(config->initrd, "/i");
  EXPECT_EQ(config->cmdline, "quiet");
  EXPECT_EQ(config->memory, 1 * GiB);
  EXPECT_EQ(config->cpus, 4u);
  EXPECT_EQ(config->console.kind, ConsoleConfig::Kind::socket);
  EXPECT_EQ(config->console.path, "/run/vm.sock");
  EXPECT_EQ(config->on_reboot, RebootAction::restart);
  auto again = vm_config_from_json(vm_config_to_json(*config));
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(vm_config_to_json(*again), vm_config_to_json(*config));
}

TEST(VmConfig, DefaultsAndBareMemoryNumbers) {
  auto config = vm_config_from_json(R"({"kernel": "/k", "memory": 256})");
  ASSERT_TRUE(config) << config.error().message();
  EXPECT_EQ(config->memory, 256 * MiB);
  EXPECT_EQ(config->cpus, 1u);
  EXPECT_EQ(config->cmdline, VmConfig::kDefaultCmdline);
  EXPECT_EQ(config->console.kind, ConsoleConfig::Kind::stdio);
  EXPECT_EQ(config->on_reboot, RebootAction::exit);
}

TEST(VmConfig, EachBadValueNamesItsField) {
  struct Case {
    const char* json;
    const char* field;
  };
  for (const Case& c : {
           Case{R"({"kernel": "/k", "memory": "12Q"})", "memory"},
           Case{R"({"kernel": "/k", "memory": "1M"})", "memory"},
           Case{R"({"kernel": "/k", "cpus": 0})", "cpus"},
           Case{R"({"kernel": "/k", "cpus": 300})", "cpus"},
           Case{R"({"kernel": "/k", "cpus": "two"})", "cpus"},
           Case{R"({"kernel": "/k", "console": "bogus:x"})", "console"},
           Case{R"({"kernel": "/k", "console": "file:"})", "console"},
           Case{R"({"kernel": "/k", "on_reboot": "maybe"})", "on_reboot"},
           Case{R"({"kernel": 7})", "kernel"},
           Case{R"({"kernel": "/k", "initrd": false})", "initrd"},
           Case{R"({"kernel": "/k", "memroy": "1G"})", "memroy"},
       }) {
    std::string error = error_of(c.json);
    EXPECT_NE(error.find(c.field), std::string::npos) << c.json << " -> " << error;
  }
}

// An image a device writes is that device's: given twice, it is refused before any VMM locks it
// against itself.
TEST(VmConfig, AnImageGivenTwiceIsRefused) {
  VmConfig config;
  config.kernel = "/k";
  config.disks = {{"/images/a.img", false, false},
                  {"/images/b.img", true, false},
                  {"/images/a.img", true, false}};
  auto twice = validate(config);
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().field(), "disks");
  EXPECT_NE(twice.error().message().find("/images/a.img is given twice (disks 0 and 2)"),
            std::string::npos)
      << twice.error().message();
  config.disks[0].readonly = true;
  EXPECT_TRUE(validate(config)) << "read-only, both: shared";
  config.disks.pop_back();
  config.kernel.clear();
  config.firmware = Firmware::bios;
  config.cdrom = "/images/b.img";
  EXPECT_TRUE(validate(config)) << "disk 1 is read-only too";
  config.cdrom = "/images/a.img";
  config.disks[0].readonly = false;
  EXPECT_FALSE(validate(config));
}

TEST(VmConfig, MalformedJsonAndMissingKernelAreClearErrors) {
  EXPECT_NE(error_of("{\"kernel\": ").find("JSON"), std::string::npos) << error_of("{");
  EXPECT_NE(error_of("[1, 2]").find("object"), std::string::npos) << error_of("[1, 2]");
  // A number too large for any integer is an error too (the JSON library throws a different
  // exception for it than for a syntax error; the fuzzer found it).
  std::string huge = "{\"kernel\": \"/k\", \"cpus\": 1" + std::string(400, '0') + "}";
  EXPECT_NE(error_of(huge).find("JSON"), std::string::npos) << error_of(huge);
  auto config = vm_config_from_json(R"({"cpus": 2})");
  if (config) {  // a partial config may parse; validation must then refuse it
    auto valid = validate(*config);
    ASSERT_FALSE(valid);
    EXPECT_NE(valid.error().message().find("kernel"), std::string::npos);
  } else {
    EXPECT_NE(config.error().message().find("kernel"), std::string::npos);
  }
}

TEST(VmConfig, OverlayKeepsFieldsNotMentioned) {
  VmConfig base;
  base.kernel = "/base";
  base.cpus = 3;
  auto config = vm_config_from_json(R"({"memory": "2G"})", base);
  ASSERT_TRUE(config) << config.error().message();
  EXPECT_EQ(config->kernel, "/base");
  EXPECT_EQ(config->cpus, 3u);
  EXPECT_EQ(config->memory, 2 * GiB);
}

TEST(VmConfig, ConsoleStringsRoundTrip) {
  for (const char* text : {"stdio", "none", "file:/tmp/console.log", "socket:/run/s"}) {
    auto console = parse_console(text);
    ASSERT_TRUE(console) << text;
    EXPECT_EQ(console_to_string(*console), text);
  }
}

void expect_same(const VmConfig& a, const VmConfig& b) {
  EXPECT_EQ(a.kernel, b.kernel);
  EXPECT_EQ(a.initrd, b.initrd);
  EXPECT_EQ(a.cmdline, b.cmdline);
  EXPECT_EQ(a.memory, b.memory);
  EXPECT_EQ(a.cpus, b.cpus);
  EXPECT_EQ(a.console.kind, b.console.kind);
  EXPECT_EQ(a.console.path, b.console.path);
  EXPECT_EQ(a.on_reboot, b.on_reboot);
  EXPECT_EQ(a.console_log, b.console_log);
}

TEST(VmConfig, EveryFieldSurvivesPrintingAndParsing) {
  VmConfig config;
  config.kernel = "/boot/vmlinuz with spaces";
  config.initrd = "/boot/initrd.img";
  config.cmdline = "console=ttyS0 init=\"/bin/sh\" path=C:\\x \xc3\xa9";
  config.memory = 3 * GiB + 2 * MiB;
  config.cpus = 254;
  config.console = {ConsoleConfig::Kind::file, "/var/log/guest console.log"};
  config.on_reboot = RebootAction::restart;
  config.console_log = "/var/lib/haven/logs/vm1.console";
  auto parsed = vm_config_from_json(vm_config_to_json(config));
  ASSERT_TRUE(parsed) << parsed.error().message() << "\n" << vm_config_to_json(config);
  expect_same(*parsed, config);
  EXPECT_TRUE(validate(*parsed));
}

TEST(VmConfig, DefaultsSurvivePrintingAndParsing) {
  VmConfig config;
  config.kernel = "/k";
  std::string json = vm_config_to_json(config);
  EXPECT_EQ(json.find("initrd"), std::string::npos) << "no initrd, no key";
  auto parsed = vm_config_from_json(json);
  ASSERT_TRUE(parsed) << parsed.error().message();
  expect_same(*parsed, config);
  for (ConsoleConfig console : {ConsoleConfig{ConsoleConfig::Kind::none, {}},
                                ConsoleConfig{ConsoleConfig::Kind::socket, "/run/haven.sock"}}) {
    config.console = console;
    parsed = vm_config_from_json(vm_config_to_json(config));
    ASSERT_TRUE(parsed) << parsed.error().message();
    expect_same(*parsed, config);
  }
}

TEST(VmConfig, PrintedMemoryIsInMiB) {
  VmConfig config;
  config.kernel = "/k";
  config.memory = VmConfig::kMaxMemory;
  EXPECT_NE(vm_config_to_json(config).find("\"1048576M\""), std::string::npos)
      << vm_config_to_json(config);
}

struct BadField {
  const char* json;
  const char* message;
};

// A bad field is an invalid-input error whose field() is the name its message quotes.
void expect_invalid_field(const Error& error, const std::string& message) {
  size_t open = message.find('\'');
  size_t close = message.find('\'', open + 1);
  ASSERT_NE(close, std::string::npos) << message;
  EXPECT_EQ(error.kind(), ErrorKind::invalid) << message;
  EXPECT_EQ(error.field(), message.substr(open + 1, close - open - 1)) << message;
}

TEST(VmConfig, BadValuesGiveOneErrorNamingTheFieldAndValue) {
  for (const BadField& c : {
           BadField{R"({"memory": "12Q"})",
                    "field 'memory': '12Q' has an unknown unit (use K, M, G or T)"},
           BadField{R"({"memory": "15M"})",
                    "field 'memory': '15M' is out of range (16 MiB to 1 TiB)"},
           BadField{R"({"memory": "1025G"})",
                    "field 'memory': '1025G' is out of range (16 MiB to 1 TiB)"},
           BadField{R"({"memory": 0})", "field 'memory': '0' is out of range (16 MiB to 1 TiB)"},
           BadField{R"({"memory": "17M"})", "field 'memory': '17M' is not a multiple of 2 MiB"},
           BadField{R"({"memory": 18446744073709551615})",
                    "field 'memory': '18446744073709551615' is too large"},
           BadField{R"({"cpus": 0})", "field 'cpus': 0 is out of range (1 to 254)"},
           BadField{R"({"cpus": 255})", "field 'cpus': 255 is out of range (1 to 254)"},
           BadField{R"({"cpus": 300})", "field 'cpus': 300 is out of range (1 to 254)"},
           BadField{R"({"cpus": -1})", "field 'cpus': -1 is out of range (1 to 254)"},
           BadField{R"({"cpus": 18446744073709551615})",
                    "field 'cpus': 18446744073709551615 is out of range (1 to 254)"},
           BadField{R"({"cpus": 9223372036854775808})",
                    "field 'cpus': 9223372036854775808 is out of range (1 to 254)"},
           BadField{R"({"console": "bogus:"})",
                    "field 'console': 'bogus:' is not one of stdio, file:PATH, socket:PATH, none"},
           BadField{R"({"console": "socket:"})",
                    "field 'console': 'socket:' is not one of stdio, file:PATH, socket:PATH, none"},
           BadField{R"({"console": "STDIO"})",
                    "field 'console': 'STDIO' is not one of stdio, file:PATH, socket:PATH, none"},
           BadField{R"({"on_reboot": "maybe"})",
                    "field 'on_reboot': 'maybe' is not one of exit, restart"},
           BadField{R"({"bogus": 1})",
                    "unknown field 'bogus' (known: kernel, initrd, cmdline, memory, cpus, console, "
                    "console_log, on_reboot, disks, nets, rng, virtio_console, firmware, cdrom, "
                    "floppy, boot, nvram, boot_timeout)"},
       }) {
    auto config = vm_config_from_json(c.json);
    ASSERT_FALSE(config) << c.json << " parsed";
    EXPECT_EQ(config.error().message(), c.message) << c.json;
    expect_invalid_field(config.error(), c.message);
  }
}

TEST(VmConfig, WrongJsonTypesNameTheField) {
  for (const BadField& c : {
           BadField{R"({"kernel": 7})", "field 'kernel': expected a string"},
           BadField{R"({"kernel": null})", "field 'kernel': expected a string"},
           BadField{R"({"initrd": ["/i"]})", "field 'initrd': expected a string"},
           BadField{R"({"cmdline": {"quiet": true}})", "field 'cmdline': expected a string"},
           BadField{R"({"console": 1})", "field 'console': expected a string"},
           BadField{R"({"on_reboot": true})", "field 'on_reboot': expected a string"},
           BadField{R"({"cpus": "two"})", "field 'cpus': expected an integer"},
           BadField{R"({"cpus": 2.5})", "field 'cpus': expected an integer"},
           BadField{R"({"cpus": true})", "field 'cpus': expected an integer"},
           BadField{R"({"cpus": null})", "field 'cpus': expected an integer"},
           BadField{R"({"memory": true})",
                    "field 'memory': expected a size such as \"512M\" or a number of MiB"},
           BadField{R"({"memory": -512})",
                    "field 'memory': expected a size such as \"512M\" or a number of MiB"},
           BadField{R"({"memory": 512.5})",
                    "field 'memory': expected a size such as \"512M\" or a number of MiB"},
           BadField{R"({"memory": ["512M"]})",
                    "field 'memory': expected a size such as \"512M\" or a number of MiB"},
       }) {
    auto config = vm_config_from_json(c.json);
    ASSERT_FALSE(config) << c.json << " parsed";
    EXPECT_EQ(config.error().message(), c.message) << c.json;
    expect_invalid_field(config.error(), c.message);
  }
}

TEST(VmConfig, NotAnObjectOrNotJsonAtAll) {
  for (const char* text : {"", "{", "{\"kernel\": }", "{} x", "{'kernel': '/k'}", "kernel=/k"}) {
    auto config = vm_config_from_json(text);
    ASSERT_FALSE(config) << "'" << text << "' parsed";
    EXPECT_EQ(config.error().message().rfind("not valid JSON: ", 0), 0u)
        << config.error().message();
  }
  for (const char* text : {"null", "[]", "\"/k\"", "42"}) {
    auto config = vm_config_from_json(text);
    ASSERT_FALSE(config) << "'" << text << "' parsed";
    EXPECT_EQ(config.error().message(), "expected a JSON object of VM settings");
  }
}

TEST(VmConfig, BoundaryValuesAreAccepted) {
  auto smallest = vm_config_from_json(R"({"kernel": "/k", "memory": "16M", "cpus": 1})");
  ASSERT_TRUE(smallest) << smallest.error().message();
  EXPECT_EQ(smallest->memory, 16 * MiB);
  EXPECT_EQ(smallest->cpus, 1u);
  auto largest = vm_config_from_json(R"({"kernel": "/k", "memory": "1T", "cpus": 254})");
  ASSERT_TRUE(largest) << largest.error().message();
  EXPECT_EQ(largest->memory, 1024 * GiB);
  EXPECT_EQ(largest->cpus, 254u);
  EXPECT_TRUE(validate(*largest));
}

TEST(VmConfig, AMissingOrEmptyKernelFailsValidation) {
  auto config = vm_config_from_json(R"({"cpus": 2})");
  ASSERT_TRUE(config) << "the kernel may come from elsewhere (haven run's flags)";
  auto valid = validate(*config);
  ASSERT_FALSE(valid);
  EXPECT_EQ(valid.error().message(),
            "kernel: no kernel given (or boot through firmware: bios or uefi)");
  config = vm_config_from_json(R"({"kernel": ""})");
  ASSERT_TRUE(config);
  EXPECT_FALSE(validate(*config));
}

TEST(VmConfig, ValidateChecksConfigsBuiltInCode) {
  VmConfig config;
  config.kernel = "/k";
  EXPECT_TRUE(validate(config));
  config.cpus = 0;
  auto result = validate(config);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().message(), "cpus: 0 is out of range (1 to 254)");
  config.cpus = 1;
  config.memory = 512 * MiB + 4096;
  result = validate(config);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().message().rfind("memory: ", 0), 0u) << result.error().message();
  config.memory = 2 * VmConfig::kMaxMemory;
  EXPECT_FALSE(validate(config));
}

TEST(VmConfig, NullInitrdClearsTheBasesInitrd) {
  VmConfig base;
  base.kernel = "/k";
  base.initrd = "/old-initrd";
  auto config = vm_config_from_json(R"({"initrd": null})", base);
  ASSERT_TRUE(config) << config.error().message();
  EXPECT_FALSE(config->initrd.has_value());
}

TEST(VmConfig, AFailedOverlayReportsTheErrorNotAHalfMergedConfig) {
  VmConfig base;
  base.kernel = "/k";
  auto config = vm_config_from_json(R"({"cmdline": "quiet", "cpus": 0})", base);
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().message(), "field 'cpus': 0 is out of range (1 to 254)");
}

TEST(VmConfig, ParsersOnTheirOwn) {
  EXPECT_EQ(*parse_memory("512"), 512 * MiB) << "bare numbers are MiB";
  EXPECT_EQ(*parse_memory("2g"), 2 * GiB);
  EXPECT_EQ(*parse_cpus(254), 254u);
  EXPECT_FALSE(parse_cpus(255));
  EXPECT_EQ(*parse_reboot_action("exit"), RebootAction::exit);
  EXPECT_EQ(*parse_reboot_action("restart"), RebootAction::restart);
  EXPECT_FALSE(parse_reboot_action("Restart"));
  EXPECT_FALSE(parse_console("file"));
  EXPECT_FALSE(parse_console("stdio:"));
  auto console = parse_console("socket:relative/path.sock");
  ASSERT_TRUE(console);
  EXPECT_EQ(console->kind, ConsoleConfig::Kind::socket);
  EXPECT_EQ(console->path, "relative/path.sock");
  console = parse_console("file:file:odd");
  ASSERT_TRUE(console);
  EXPECT_EQ(console->path, "file:odd");
}

// Devices: disks, nets, rng and the virtio console.

TEST(VmConfigDevices, DiskFlagsParse) {
  auto disk = parse_disk("/images/root.img");
  ASSERT_TRUE(disk) << disk.error().message();
  EXPECT_EQ(*disk, (DiskConfig{"/images/root.img", false, false}));
  disk = parse_disk("path=/d,readonly=on,direct=yes");
  ASSERT_TRUE(disk) << disk.error().message();
  EXPECT_EQ(*disk, (DiskConfig{"/d", true, true}));
  disk = parse_disk("/d,readonly=off,direct=false");
  ASSERT_TRUE(disk) << disk.error().message();
  EXPECT_EQ(*disk, (DiskConfig{"/d", false, false}));
  disk = parse_disk("/d,cbt=on");
  ASSERT_TRUE(disk) << disk.error().message();
  EXPECT_EQ(*disk, (DiskConfig{"/d", false, false, true}));
  auto json = vm_config_from_json(R"({"kernel": "/k", "disks": [{"path": "/d", "cbt": true}]})");
  ASSERT_TRUE(json) << json.error().message();
  EXPECT_TRUE(json->disks.at(0).cbt);
  EXPECT_TRUE(vm_config_from_json(vm_config_to_json(*json))->disks.at(0).cbt) << "round trip";
  // Queues: one per vCPU unless given; given, they survive a round trip.
  disk = parse_disk("path=/d,queues=3");
  ASSERT_TRUE(disk) << disk.error().message();
  EXPECT_EQ(disk->queues, 3u);
  EXPECT_EQ(disk_queues(*disk, 8), 3u);
  EXPECT_EQ(disk_queues(DiskConfig{}, 1), 1u);
  EXPECT_EQ(disk_queues(DiskConfig{}, 4), 4u);
  EXPECT_EQ(disk_queues(DiskConfig{}, 64), kMaxDiskQueues);
  json = vm_config_from_json(R"({"kernel": "/k", "disks": [{"path": "/d", "queues": 2}]})");
  ASSERT_TRUE(json) << json.error().message();
  EXPECT_EQ(vm_config_from_json(vm_config_to_json(*json))->disks.at(0).queues, 2u);
  disk = parse_disk("path=/a=b");
  ASSERT_TRUE(disk) << "only the first '=' separates";
  EXPECT_EQ(disk->path, "/a=b");
}

TEST(VmConfigDevices, BadDiskFlagsSayWhatIsWrong) {
  struct Case {
    const char* text;
    const char* message;
  };
  for (const Case& c : {
           Case{"", "'' is not KEY=VALUE"},
           Case{"readonly=on", "no path= given"},
           Case{"path=", "no path= given"},
           Case{"/d,ro", "'ro' is not KEY=VALUE"},
           Case{"/d,readonly=maybe", "readonly: 'maybe' is not on or off"},
           Case{"/d,cache=none",
                "unknown disk option 'cache' (known: path, readonly, direct, cbt, restore-repo, "
                "restore-snapshot, hydrate, fill-paused, queues)"},
           Case{"/d,", "'' is not KEY=VALUE"},
           Case{"/d,queues=0", "queues: '0' is not a number from 1 to 16"},
           Case{"/d,queues=17", "queues: '17' is not a number from 1 to 16"},
           Case{"/d,queues=2x", "queues: '2x' is not a number from 1 to 16"},
       }) {
    auto disk = parse_disk(c.text);
    ASSERT_FALSE(disk) << "'" << c.text << "' parsed";
    EXPECT_EQ(disk.error().message(), c.message) << c.text;
  }
}

TEST(VmConfigDevices, NetFlagsParse) {
  auto net = parse_net("tap=haven0,mac=52:54:00:AB:cd:0f");
  ASSERT_TRUE(net) << net.error().message();
  EXPECT_EQ(net->tap, "haven0");
  ASSERT_TRUE(net->mac);
  EXPECT_EQ(*net->mac, (std::array<uint8_t, 6>{0x52, 0x54, 0x00, 0xab, 0xcd, 0x0f}));
  EXPECT_EQ(mac_to_string(*net->mac), "52:54:00:ab:cd:0f");
  net = parse_net("tap0");
  ASSERT_TRUE(net) << net.error().message();
  EXPECT_EQ(net->tap, "tap0");
  EXPECT_FALSE(net->mac) << "derived later from the TAP name";
  EXPECT_TRUE(parse_net("tap=123456789012345")) << "15 characters fit IFNAMSIZ";
}

TEST(VmConfigDevices, BadNetFlagsSayWhatIsWrong) {
  struct Case {
    const char* text;
    const char* message;
  };
  for (const Case& c : {
           Case{"mac=52:54:00:12:34:56",
                "tap: '' is not an interface name (1 to 15 characters, none of / : , = or spaces)"},
           Case{"tap=1234567890123456",
                "tap: '1234567890123456' is not an interface name (1 to 15 characters, none of / : "
                ", = or spaces)"},
           Case{"tap=a/b",
                "tap: 'a/b' is not an interface name (1 to 15 characters, none of / : , = or "
                "spaces)"},
           Case{"tap=..",
                "tap: '..' is not an interface name (1 to 15 characters, none of / : , = or "
                "spaces)"},
           Case{"tap=a b",
                "tap: 'a b' is not an interface name (1 to 15 characters, none of / : , = or "
                "spaces)"},
           Case{"tap=t,mac=52:54:00:12:34",
                "mac: '52:54:00:12:34' is not a MAC address like 52:54:00:12:34:56"},
           Case{"tap=t,mac=01:00:5e:00:00:01", "mac: '01:00:5e:00:00:01' is a multicast address"},
           Case{"tap=t,queues=4", "unknown net option 'queues' (known: tap, mac)"},
       }) {
    auto net = parse_net(c.text);
    ASSERT_FALSE(net) << "'" << c.text << "' parsed";
    EXPECT_EQ(net.error().message(), c.message) << c.text;
  }
}

TEST(VmConfigDevices, OnlyStrictMacAddressesParse) {
  for (const char* text : {"52:54:00:12:34:56:", "52:54:00:12:34:5g", "52-54-00-12-34-56",
                           "52:54:00:12:34:+5", "52:54:00:12:34:-5", "52:54:00:12: 4:56",
                           "52:54:00:12:345:6", "525400123456", "52:54:00:12:34:0x", ""}) {
    EXPECT_FALSE(parse_mac(text)) << "'" << text << "' parsed";
  }
  EXPECT_TRUE(parse_mac("fe:ff:ff:ff:ff:ff"));
}

TEST(VmConfigDevices, DevicesSurviveJsonPrintingAndParsing) {
  VmConfig config;
  config.kernel = "/k";
  config.disks = {{"/images/root.img", false, true}, {"/images/ro, with comma.img", true, false}};
  config.nets = {{"tap0", std::array<uint8_t, 6>{0x52, 0x54, 0, 1, 2, 3}}, {"tap1", std::nullopt}};
  config.rng = true;
  config.virtio_console = ConsoleConfig{ConsoleConfig::Kind::file, "/var/log/hvc0.log"};
  std::string json = vm_config_to_json(config);
  auto parsed = vm_config_from_json(json);
  ASSERT_TRUE(parsed) << parsed.error().message() << "\n" << json;
  EXPECT_EQ(parsed->disks, config.disks);
  EXPECT_EQ(parsed->nets, config.nets);
  EXPECT_TRUE(parsed->rng);
  ASSERT_TRUE(parsed->virtio_console);
  EXPECT_EQ(parsed->virtio_console->kind, ConsoleConfig::Kind::file);
  EXPECT_EQ(parsed->virtio_console->path, "/var/log/hvc0.log");

  // Without devices, no device keys are printed.
  VmConfig plain;
  plain.kernel = "/k";
  json = vm_config_to_json(plain);
  for (const char* key : {"disks", "nets", "rng", "virtio_console"})
    EXPECT_EQ(json.find(key), std::string::npos) << key << " in " << json;
}

TEST(VmConfigDevices, JsonDevicesWithDefaults) {
  auto config = vm_config_from_json(
      R"({"kernel": "/k", "disks": [{"path": "/a"}, {"path": "/b", "readonly": true}],
          "nets": [{"tap": "t0"}], "rng": false, "virtio_console": "socket:/run/hvc.sock"})");
  ASSERT_TRUE(config) << config.error().message();
  EXPECT_EQ(config->disks, (std::vector<DiskConfig>{{"/a", false, false}, {"/b", true, false}}));
  EXPECT_EQ(config->nets, (std::vector<NetConfig>{{"t0", std::nullopt}}));
  EXPECT_FALSE(config->rng);
  ASSERT_TRUE(config->virtio_console);
  EXPECT_EQ(config->virtio_console->kind, ConsoleConfig::Kind::socket);

  // An overlay replaces the device lists and null removes the virtio console.
  auto overlaid = vm_config_from_json(R"({"disks": [], "virtio_console": null})", *config);
  ASSERT_TRUE(overlaid) << overlaid.error().message();
  EXPECT_TRUE(overlaid->disks.empty());
  EXPECT_EQ(overlaid->nets.size(), 1u) << "not mentioned, kept";
  EXPECT_FALSE(overlaid->virtio_console);
}

TEST(VmConfigDevices, BadJsonDevicesNameTheField) {
  for (const BadField& c : {
           BadField{R"({"disks": "/a"})", "field 'disks': expected a list"},
           BadField{R"({"disks": ["/a"]})", "field 'disks[0]': expected an object with a \"path\""},
           BadField{R"({"disks": [{"path": "/a"}, {"readonly": true}]})",
                    "field 'disks[1].path': missing"},
           BadField{R"({"disks": [{"path": "/a", "readonly": "yes"}]})",
                    "field 'disks[0].readonly': expected true or false"},
           BadField{R"({"disks": [{"path": 3}]})", "field 'disks[0].path': expected a string"},
           BadField{R"({"disks": [{"path": "/a", "queues": 0}]})",
                    "field 'disks[0].queues': expected a number of queues from 1 to 16"},
           BadField{R"({"disks": [{"path": "/a", "queues": 99999999999999999999}]})",
                    "field 'disks[0].queues': expected a number of queues from 1 to 16"},
           BadField{R"({"disks": [{"path": "/a", "queues": "4"}]})",
                    "field 'disks[0].queues': expected a number of queues from 1 to 16"},
           BadField{R"({"disks": [{"path": "/a", "cache": "none"}]})",
                    "unknown field 'disks[0].cache' (known: path, readonly, direct, cbt, "
                    "restore_repo, restore_snapshot, hydrate, fill_paused, queues)"},
           BadField{R"({"nets": {"tap": "t"}})", "field 'nets': expected a list"},
           BadField{R"({"nets": [{"tap": "t"}, 5]})",
                    "field 'nets[1]': expected an object with a \"tap\""},
           BadField{R"({"nets": [{"tap": "t", "mac": "xx"}]})",
                    "field 'nets[0].mac': 'xx' is not a MAC address like 52:54:00:12:34:56"},
           BadField{R"({"nets": [{"mac": "52:54:00:12:34:56"}]})",
                    "field 'nets[0].tap': '' is not an interface name (1 to 15 characters, none of "
                    "/ : , = or spaces)"},
           BadField{R"({"nets": [{"tap": "t", "mac": 5}]})",
                    "field 'nets[0].mac': expected a string"},
           BadField{R"({"nets": [{"tap": "t", "vhost": true}]})",
                    "unknown field 'nets[0].vhost' (known: tap, mac)"},
           BadField{R"({"rng": "yes"})", "field 'rng': expected true or false"},
       }) {
    auto config = vm_config_from_json(c.json);
    ASSERT_FALSE(config) << c.json << " parsed";
    EXPECT_EQ(config.error().message(), c.message) << c.json;
    expect_invalid_field(config.error(), c.message);
  }
}

TEST(VmConfigDevices, ATapNameCannotSneakInOptions) {
  // A comma in a JSON value must not become a second option.
  auto config = vm_config_from_json(R"({"nets": [{"tap": "t,mac=x"}]})");
  ASSERT_FALSE(config) << "parsed as tap " << config->nets[0].tap;
  EXPECT_EQ(config.error().message(),
            "field 'nets[0].tap': 't,mac=x' is not an interface name (1 to 15 characters, none of "
            "/ : , = or spaces)");
}

}  // namespace
}  // namespace haven::vmm
