#include "store/pack.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/atomic_file.h"
#include "base/sys.h"
#include "store/crypto.h"

namespace haven::store {

std::string pack_name(const PackId& id) {
  return to_hex(id.data(), id.size());
}

Result<PackWriter> PackWriter::create(std::string tmp_dir, std::string packs_dir) {
  PackWriter writer;
  TRY(random_bytes(writer.m_id));
  writer.m_tmp_path = tmp_dir + "/pack-" + pack_name(writer.m_id);
  writer.m_packs_dir = std::move(packs_dir);
  writer.m_fd = TRY(sys::open(writer.m_tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  TRY(sys::write_all(writer.m_fd.get(),
                     {reinterpret_cast<const uint8_t*>(kPackMagic), sizeof(kPackMagic)}));
  writer.m_size = sizeof(kPackMagic);
  return writer;
}

PackWriter::~PackWriter() {
  if (!m_committed && m_fd) (void)sys::remove_file(m_tmp_path);  // best effort
}

Result<uint64_t> PackWriter::append(std::span<const uint8_t> blob) {
  uint64_t offset = m_size;
  TRY(with_context(sys::write_all(m_fd.get(), blob), "{}", m_tmp_path));
  m_size += blob.size();
  return offset;
}

std::string PackWriter::final_path() const {
  std::string name = pack_name(m_id);
  return m_packs_dir + "/" + name.substr(0, 2) + "/" + name;
}

Result<void> PackWriter::commit() {
  TRY(sys::sync_all(m_fd.get(), m_tmp_path));
  std::string name = pack_name(m_id);
  std::string directory = m_packs_dir + "/" + name.substr(0, 2);
  if (::mkdir(directory.c_str(), 0755) == 0)
    TRY(fsync_directory(m_packs_dir));
  else if (errno != EEXIST)
    return errno_error("mkdir {}", directory);
  std::string final_path = this->final_path();
  TRY(sys::rename(m_tmp_path, final_path));
  m_committed = true;
  return fsync_directory(directory);
}

}  // namespace haven::store
