// A scratch directory tree under /tmp for one test, removed (without following symlinks) when it goes away.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

class TempTree {
public:
    TempTree() {
        char tmpl[] = "/tmp/berth-unit-XXXXXX";
        if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
        path_ = tmpl;
    }
    TempTree(const TempTree&) = delete;
    TempTree& operator=(const TempTree&) = delete;
    ~TempTree() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }

    const std::string& path() const { return path_; }
    std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

    // Creates parents as needed; returns the absolute path.
    std::string mkdir(const std::string& rel) const {
        std::filesystem::create_directories(*this / rel);
        return *this / rel;
    }
    std::string write(const std::string& rel, const std::string& content, mode_t mode = 0644) const {
        auto p = std::filesystem::path(*this / rel);
        std::filesystem::create_directories(p.parent_path());
        {
            std::ofstream out(p, std::ios::binary | std::ios::trunc);
            out << content;
        }
        ::chmod(p.c_str(), mode);
        return p.string();
    }
    std::string symlink(const std::string& target, const std::string& rel) const {
        auto p = std::filesystem::path(*this / rel);
        std::filesystem::create_directories(p.parent_path());
        std::filesystem::create_symlink(target, p);
        return p.string();
    }
    // An O_PATH directory fd on `rel` ("" = the tree itself); the caller closes it.
    int open_dir(const std::string& rel = "") const {
        return ::open(rel.empty() ? path_.c_str() : (*this / rel).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    }

private:
    std::string path_;
};

inline bool path_exists(const std::string& p) {
    struct stat st {};
    return ::lstat(p.c_str(), &st) == 0;
}

inline std::string slurp(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A name no other test run uses, for paths outside the temp tree that must NOT come to exist.
inline std::string unique_name(const std::string& stem) {
    return stem + "-" + std::to_string(::getpid()) + "-" + std::to_string(::rand());
}
