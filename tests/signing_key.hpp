// A test's own OpenPGP signing key (ed25519, no passphrase) in a gpg home of its own, for signed
// SHA256SUMS files: the public half exported as a keyring file, detached signatures made with it. The
// gpg-agent gpg starts for it is stopped with the key. Needs gpg (Debian's package gpg).
#pragma once

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace berth::test {

class SigningKey {
public:
    // The gpg home is made at `dir` (which must not exist), the keyring is `dir`.gpg.
    SigningKey(const std::string& dir, const std::string& who) : home_(dir), keyring_(dir + ".gpg") {
        std::filesystem::create_directories(home_);
        ::chmod(home_.c_str(), 0700);
        if (!gpg("--quick-gen-key '" + who + " <" + who + "@berth.test>' ed25519 sign never") ||
            !gpg("--export > '" + keyring_ + "'"))
            throw std::runtime_error("SigningKey: gpg could not make a key in " + home_);
    }
    ~SigningKey() { quiet("gpgconf --homedir '" + home_ + "' --kill all"); }
    SigningKey(const SigningKey&) = delete;
    SigningKey& operator=(const SigningKey&) = delete;

    const std::string& keyring() const { return keyring_; }
    // FILE.gpg (or `signature`), a detached binary signature of FILE.
    bool sign(const std::string& file, const std::string& signature = "") const {
        std::string out = signature.empty() ? file + ".gpg" : signature;
        return gpg("--yes --detach-sign -o '" + out + "' '" + file + "'");
    }

private:
    static bool quiet(const std::string& command) {
        return std::system(("{ " + command + "; } >/dev/null 2>&1").c_str()) == 0;
    }
    bool gpg(const std::string& args) const {
        return quiet("gpg --batch --homedir '" + home_ + "' --pinentry-mode loopback --passphrase '' " + args);
    }
    std::string home_, keyring_;
};

}  // namespace berth::test
