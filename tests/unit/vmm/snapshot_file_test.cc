#include "vmm/snapshot_file.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "base/units.h"

namespace haven::vmm {
namespace {

using json = nlohmann::json;

template <class T>
bool same_bytes(const T& a, const T& b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

// A snapshot of a 2-vCPU VM with some of every kind of state, values made up: the file
// format carries bytes, it does not judge them (KVM does, on restore).
Snapshot make_snapshot() {
  Snapshot snapshot;
  snapshot.config.kernel = "/boot/vmlinuz-test";
  snapshot.config.cpus = 2;
  snapshot.config.memory = 256 * MiB;
  snapshot.config.disks = {{"/images/root.img", false, false}, {"/images/seed.iso", true, false}};
  snapshot.vm.clock.clock = 123456789012;
  snapshot.vm.pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
  snapshot.vm.pic_master.chip.pic.irq_base = 0x20;
  snapshot.vm.pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
  snapshot.vm.pic_slave.chip.pic.irq_base = 0x28;
  snapshot.vm.ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
  snapshot.vm.ioapic.chip.ioapic.base_address = 0xfec00000;
  snapshot.vm.pit.channels[0].count = 0x1234;
  for (uint32_t i = 0; i < 2; ++i) {
    kvm::VcpuState vcpu;
    vcpu.cpuid.resize(2);
    vcpu.cpuid[0].function = 0;
    vcpu.cpuid[0].eax = 0xd;
    vcpu.cpuid[1].function = 1;
    vcpu.cpuid[1].ebx = i << 24;  // the APIC id
    vcpu.mp_state.mp_state = i == 0 ? KVM_MP_STATE_RUNNABLE : KVM_MP_STATE_HALTED;
    vcpu.regs.rip = 0x100000 + i;
    vcpu.regs.rflags = 0x202;
    vcpu.sregs.cr0 = 0x80050033;
    vcpu.xsave.region[0] = 0x037f;
    vcpu.xcrs.nr_xcrs = 1;
    vcpu.debugregs.dr7 = 0x400;
    vcpu.lapic.regs[0x20] = static_cast<char>(i);
    vcpu.msrs = {{0x10, 1234567890123ull + i}, {0xc0000080, 0xd01}, {0x174, UINT64_MAX}};
    vcpu.events.exception.nr = 14;
    snapshot.vcpus.push_back(vcpu);
  }
  snapshot.devices = {{"uart", {{"lcr", 3u}, {"input", ""}}},
                      {"pci", {{"functions", json::object()}}}};
  snapshot.memory = {{0, 3 * GiB, 0}, {4 * GiB, GiB, 3 * GiB}};
  snapshot.disk_copies = {snapshot_disk_name(0), std::nullopt};
  return snapshot;
}

class SnapshotFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = ::testing::TempDir() + "haven-snapshot-XXXXXX";
    ASSERT_NE(::mkdtemp(dir.data()), nullptr);
    m_dir = dir;
  }
  void TearDown() override { std::filesystem::remove_all(m_dir); }

  std::string file() const { return m_dir + "/" + kSnapshotFileName; }

  // Writes `snapshot`, lets `change` edit the JSON as a damaged or foreign file would differ,
  // and reads it back.
  Result<Snapshot> write_edit_read(const Snapshot& snapshot,
                                   const std::function<void(json&)>& change) {
    auto written = write_snapshot_file(m_dir, snapshot);
    EXPECT_TRUE(written) << written.error().message();
    json doc = json::parse(std::ifstream(file()));
    change(doc);
    std::ofstream(file(), std::ios::trunc) << doc.dump();
    return read_snapshot_file(m_dir);
  }

  // Expects the edited snapshot to be refused with a message containing `what`.
  void expect_refused(const std::function<void(json&)>& change, const std::string& what) {
    auto read = write_edit_read(make_snapshot(), change);
    ASSERT_FALSE(read) << "accepted; expected an error about " << what;
    EXPECT_NE(read.error().message().find(what), std::string::npos) << read.error().message();
  }

  std::string m_dir;
};

TEST_F(SnapshotFileTest, EverythingSurvivesTheRoundTrip) {
  Snapshot snapshot = make_snapshot();
  auto written = write_snapshot_file(m_dir, snapshot);
  ASSERT_TRUE(written) << written.error().message();
  auto read = read_snapshot_file(m_dir);
  ASSERT_TRUE(read) << read.error().message();

  EXPECT_EQ(read->config.kernel, "/boot/vmlinuz-test");
  EXPECT_EQ(read->config.cpus, 2u);
  EXPECT_EQ(read->config.memory, 256 * MiB);
  EXPECT_EQ(read->config.disks, snapshot.config.disks);
  EXPECT_TRUE(same_bytes(read->vm.clock, snapshot.vm.clock));
  EXPECT_TRUE(same_bytes(read->vm.pic_master, snapshot.vm.pic_master));
  EXPECT_TRUE(same_bytes(read->vm.pic_slave, snapshot.vm.pic_slave));
  EXPECT_TRUE(same_bytes(read->vm.ioapic, snapshot.vm.ioapic));
  EXPECT_TRUE(same_bytes(read->vm.pit, snapshot.vm.pit));
  ASSERT_EQ(read->vcpus.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const kvm::VcpuState &got = read->vcpus[i], &want = snapshot.vcpus[i];
    ASSERT_EQ(got.cpuid.size(), 2u);
    EXPECT_EQ(std::memcmp(got.cpuid.data(), want.cpuid.data(), 2 * sizeof(kvm_cpuid_entry2)), 0);
    EXPECT_TRUE(same_bytes(got.mp_state, want.mp_state)) << "vCPU " << i;
    EXPECT_TRUE(same_bytes(got.regs, want.regs)) << "vCPU " << i;
    EXPECT_TRUE(same_bytes(got.sregs, want.sregs));
    EXPECT_TRUE(same_bytes(got.xsave, want.xsave));
    EXPECT_TRUE(same_bytes(got.xcrs, want.xcrs));
    EXPECT_TRUE(same_bytes(got.debugregs, want.debugregs));
    EXPECT_TRUE(same_bytes(got.lapic, want.lapic));
    EXPECT_TRUE(same_bytes(got.events, want.events));
    ASSERT_EQ(got.msrs.size(), want.msrs.size());
    for (size_t m = 0; m < got.msrs.size(); ++m) {
      EXPECT_EQ(got.msrs[m].index, want.msrs[m].index);
      EXPECT_EQ(got.msrs[m].value, want.msrs[m].value);
    }
  }
  EXPECT_EQ(read->vcpus[1].regs.rip, 0x100001u);
  EXPECT_EQ(read->devices, snapshot.devices);
  ASSERT_EQ(read->memory.size(), 2u);
  EXPECT_EQ(read->memory[1].guest_address, 4 * GiB);
  EXPECT_EQ(read->memory[1].size, GiB);
  EXPECT_EQ(read->memory[1].file_offset, 3 * GiB);
  EXPECT_EQ(read->disk_copies, snapshot.disk_copies);
}

TEST_F(SnapshotFileTest, TheFileSaysWhatItIs) {
  ASSERT_TRUE(write_snapshot_file(m_dir, make_snapshot()));
  json doc = json::parse(std::ifstream(file()));
  EXPECT_EQ(doc["format"], "haven-vm-snapshot");
  EXPECT_EQ(doc["version"], kSnapshotVersion);
  EXPECT_EQ(doc["disk_copies"], json::parse(R"(["disk-0.img", null])"));
  EXPECT_EQ(snapshot_disk_name(3), "disk-3.img");
}

TEST_F(SnapshotFileTest, ASecondSnapshotReplacesTheFirst) {
  Snapshot snapshot = make_snapshot();
  ASSERT_TRUE(write_snapshot_file(m_dir, snapshot));
  snapshot.vcpus[0].regs.rip = 0xdead;
  ASSERT_TRUE(write_snapshot_file(m_dir, snapshot));
  EXPECT_EQ(read_snapshot_file(m_dir).value().vcpus[0].regs.rip, 0xdeadu);
}

TEST_F(SnapshotFileTest, ADirectoryWithoutSnapshotJsonIsUnfinished) {
  auto read = read_snapshot_file(m_dir);
  ASSERT_FALSE(read);
  EXPECT_NE(read.error().message().find("no snapshot.json"), std::string::npos)
      << read.error().message();
  EXPECT_NE(read.error().message().find("unfinished"), std::string::npos);
  EXPECT_NE(read.error().message().find(m_dir), std::string::npos);
}

TEST_F(SnapshotFileTest, NotJsonIsRefused) {
  std::ofstream(file()) << "{\"format\": ";
  auto read = read_snapshot_file(m_dir);
  ASSERT_FALSE(read);
  EXPECT_NE(read.error().message().find("not valid JSON"), std::string::npos)
      << read.error().message();
}

TEST_F(SnapshotFileTest, AnotherFormatOrVersionIsRefused) {
  expect_refused([](json& doc) { doc["format"] = "qemu-savevm"; },
                 "not a Haven VM snapshot (format 'qemu-savevm')");
  expect_refused([](json& doc) { doc["version"] = kSnapshotVersion + 1; },
                 "snapshot version 2; this Haven reads version 1");
  expect_refused([](json& doc) { doc.erase("version"); }, "no 'version'");
  expect_refused([](json& doc) { doc = json::array(); }, "no 'format'");
}

TEST_F(SnapshotFileTest, ErrorsNameTheFile) {
  expect_refused([](json& doc) { doc["format"] = "x"; }, file());
}

TEST_F(SnapshotFileTest, VcpuCountMustMatchTheConfig) {
  expect_refused([](json& doc) { doc["vcpus"].erase(1); }, "1 vCPU states for a VM of 2 vCPUs");
  expect_refused([](json& doc) { doc["config"]["cpus"] = 3; }, "2 vCPU states for a VM of 3");
}

TEST_F(SnapshotFileTest, DamagedVcpuStateIsRefusedNamingTheVcpu) {
  expect_refused([](json& doc) { doc["vcpus"][1]["regs"] = "00"; }, "vCPU 1: state field 'regs'");
  expect_refused(
      [](json& doc) {
        std::string cpuid = doc["vcpus"][0]["cpuid"];
        doc["vcpus"][0]["cpuid"] = cpuid.substr(2);
      },
      "not a whole number of entries");
  expect_refused([](json& doc) { doc["vcpus"][0]["msrs"][0] = json::array({1}); },
                 "[index, value] pairs");
  expect_refused(
      [](json& doc) {
        doc["vcpus"][0]["msrs"][0] = json::array({1ull << 32, 0});
      },
      "pairs");
  expect_refused([](json& doc) { doc["vcpus"][0]["msrs"][0] = json::array({16, -1}); }, "pairs");
}

TEST_F(SnapshotFileTest, IrqchipStatesMustBeThePicsAndTheIoapic) {
  Snapshot snapshot = make_snapshot();
  std::swap(snapshot.vm.pic_master, snapshot.vm.pic_slave);
  auto read = write_edit_read(snapshot, [](json&) {});
  ASSERT_FALSE(read);
  EXPECT_NE(read.error().message().find("not the PICs and the IOAPIC"), std::string::npos)
      << read.error().message();
}

TEST_F(SnapshotFileTest, DeviceMemoryAndDiskListsAreChecked) {
  expect_refused([](json& doc) { doc["devices"] = json::array(); }, "'devices' is not an object");
  expect_refused([](json& doc) { doc["memory"][0].erase("size"); }, "no 'size'");
  expect_refused([](json& doc) { doc["disk_copies"].erase(1); },
                 "'disk_copies' does not list every disk");
  expect_refused([](json& doc) { doc["disk_copies"][1] = 7; }, "non-string");
}

TEST_F(SnapshotFileTest, DiskCopyNamesMustBePlainFileNames) {
  for (const char* name : {"../disk-0.img", "sub/disk-0.img", "/etc/passwd", ".hidden", ""}) {
    expect_refused([&](json& doc) { doc["disk_copies"][0] = name; }, "is not a plain file name");
  }
}

// A snapshot file is input from disk: whatever its shape, reading it answers an error.
TEST_F(SnapshotFileTest, OddlyShapedDocumentsAreErrorsNotCrashes) {
  const std::vector<std::function<void(json&)>> changes = {
      [](json& doc) { doc["config"] = json::array(); },
      [](json& doc) { doc["config"] = "kernel"; },
      [](json& doc) { doc.erase("config"); },
      [](json& doc) { doc["vm"] = 5; },
      [](json& doc) { doc.erase("vm"); },
      [](json& doc) { doc["vcpus"] = json::object(); },
      [](json& doc) { doc["vcpus"][0] = json::array(); },
      [](json& doc) { doc["vcpus"][0]["msrs"] = "none"; },
      [](json& doc) { doc["vcpus"][0]["msrs"][0] = "pair"; },
      [](json& doc) { doc["memory"] = json::object(); },
      [](json& doc) { doc["memory"][0] = 1; },
      [](json& doc) { doc["memory"][0]["size"] = -4096; },
      [](json& doc) { doc["disk_copies"] = "disk-0.img"; },
      [](json& doc) { doc["disk_copies"][0] = json::array({"disk-0.img"}); },
      [](json& doc) { doc = 42; },
  };
  for (size_t i = 0; i < changes.size(); ++i) {
    auto read = write_edit_read(make_snapshot(), changes[i]);
    EXPECT_FALSE(read) << "change " << i << " was accepted";
  }
}

// A UEFI guest's snapshot carries its variable store as one more file of the directory.
Snapshot make_uefi_snapshot() {
  Snapshot snapshot = make_snapshot();
  snapshot.config.firmware = Firmware::uefi;
  snapshot.config.kernel.clear();
  snapshot.config.nvram = "/var/lib/haven/vm1.fd";
  snapshot.nvram_copy = kSnapshotNvramName;
  return snapshot;
}

TEST_F(SnapshotFileTest, TheNvramCopySurvivesTheRoundTrip) {
  auto written = write_snapshot_file(m_dir, make_uefi_snapshot());
  ASSERT_TRUE(written) << written.error().message();
  EXPECT_EQ(json::parse(std::ifstream(file()))["nvram_copy"], "nvram.fd");
  auto read = read_snapshot_file(m_dir);
  ASSERT_TRUE(read) << read.error().message();
  EXPECT_EQ(read->nvram_copy, "nvram.fd");
  EXPECT_EQ(read->config.firmware, Firmware::uefi);
  EXPECT_EQ(read->config.nvram, "/var/lib/haven/vm1.fd");
}

TEST_F(SnapshotFileTest, NoNvramCopyNoKey) {
  Snapshot snapshot = make_uefi_snapshot();
  snapshot.nvram_copy.reset();  // a UEFI guest whose variables lived in memory only
  ASSERT_TRUE(write_snapshot_file(m_dir, snapshot));
  EXPECT_FALSE(json::parse(std::ifstream(file())).contains("nvram_copy"));
  auto read = read_snapshot_file(m_dir);
  ASSERT_TRUE(read) << read.error().message();
  EXPECT_FALSE(read->nvram_copy);
}

// The name is fixed, so a snapshot file cannot point restore at another file to copy.
TEST_F(SnapshotFileTest, TheNvramCopyMustBeNvramFd) {
  for (json name : {json("../nvram.fd"), json("/etc/shadow"), json("nvram2.fd"), json(""), json(7),
                    json(nullptr), json::array({"nvram.fd"})}) {
    auto read = write_edit_read(make_uefi_snapshot(), [&](json& doc) { doc["nvram_copy"] = name; });
    ASSERT_FALSE(read) << name.dump() << " accepted";
    EXPECT_NE(read.error().message().find("'nvram_copy' is not \"nvram.fd\""), std::string::npos)
        << read.error().message();
  }
}

TEST_F(SnapshotFileTest, AnNvramCopyWithoutUefiIsRefused) {
  for (const char* firmware : {"bios", "none"}) {
    auto read = write_edit_read(make_uefi_snapshot(), [&](json& doc) {
      doc["config"]["firmware"] = firmware;
      doc["config"].erase("nvram");
    });
    ASSERT_FALSE(read) << firmware;
    EXPECT_NE(read.error().message().find("'nvram_copy' in a snapshot of a guest without UEFI"),
              std::string::npos)
        << read.error().message();
  }
}

}  // namespace
}  // namespace haven::vmm
