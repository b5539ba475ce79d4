#include "kvm/kvm.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cstring>
#include <memory>

#include "base/sys.h"
#include "kvm/list_ioctl.h"

namespace haven::kvm {
namespace {

struct RequiredCapability {
  long id;
  const char* name;
};

// Capabilities the machine model cannot do without.
constexpr RequiredCapability kRequired[] = {
    {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
    {KVM_CAP_PIT2, "KVM_CAP_PIT2"},
    {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
    {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
    {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
    {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
    {KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING"},
    {KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD"},
    {KVM_CAP_IRQFD, "KVM_CAP_IRQFD"},
};

std::string open_hint(int err) {
  switch (err) {
    case ENOENT:
      return " (no KVM on this host: load kvm-intel or kvm-amd, or enable virtualization in "
             "the firmware)";
    case EACCES:
    case EPERM:
      return " (run as root or add your user to the 'kvm' group)";
    case ENODEV:
    case ENXIO:
      return " (the kvm module is loaded but has no hypervisor behind it)";
    default:
      return "";
  }
}

}  // namespace

Flavor detect_flavor() {
  struct stat st {};
  return ::stat("/sys/module/kvm_pvm", &st) == 0 ? Flavor::pvm : Flavor::hardware;
}

Result<Kvm> Kvm::open(const std::string& path) {
  auto fd = sys::open(path, O_RDWR);
  if (!fd) {
    int err = fd.error().code();
    return make_error("cannot open {}: {}{}", path, std::strerror(err), open_hint(err));
  }
  int version = TRY(sys::ioctl(fd->get(), KVM_GET_API_VERSION, 0ul, "KVM_GET_API_VERSION"));
  if (version != KVM_API_VERSION)
    return make_error("{}: KVM API version {} is not the supported {}", path, version,
                      KVM_API_VERSION);
  Kvm kvm(std::move(*fd), detect_flavor());
  for (const auto& cap : kRequired) {
    int present = TRY(kvm.check_extension(cap.id));
    if (!present) return make_error("{}: KVM lacks the required capability {}", path, cap.name);
  }
  return kvm;
}

Result<int> Kvm::check_extension(long capability) const {
  return sys::ioctl(m_fd.get(), KVM_CHECK_EXTENSION, static_cast<unsigned long>(capability),
                    "KVM_CHECK_EXTENSION");
}

Result<std::vector<kvm_cpuid_entry2>> Kvm::supported_cpuid() const {
  return read_list_ioctl<kvm_cpuid2, kvm_cpuid_entry2>(m_fd.get(), KVM_GET_SUPPORTED_CPUID,
                                                       "KVM_GET_SUPPORTED_CPUID", 64, 4096);
}

Result<std::vector<uint32_t>> Kvm::msr_index_list() const {
  return read_list_ioctl<kvm_msr_list, uint32_t>(m_fd.get(), KVM_GET_MSR_INDEX_LIST,
                                                 "KVM_GET_MSR_INDEX_LIST", 256, 16384);
}

Result<Vm> Kvm::create_vm() const {
  int vm_fd = TRY(sys::ioctl(m_fd.get(), KVM_CREATE_VM, 0ul, "KVM_CREATE_VM"));
  int mmap_size =
      TRY(sys::ioctl(m_fd.get(), KVM_GET_VCPU_MMAP_SIZE, 0ul, "KVM_GET_VCPU_MMAP_SIZE"));
  return Vm(UniqueFd(vm_fd), static_cast<size_t>(mmap_size));
}

}  // namespace haven::kvm
