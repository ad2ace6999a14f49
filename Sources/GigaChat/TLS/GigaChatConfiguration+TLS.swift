import NIOSSL

extension GigaChatConfiguration.TLS {
    /// Builds the NIOSSL client configuration: system roots plus the Russian Trusted Root CA plus the CA bundle;
    /// verification off only when asked for and no CA bundle is given; the client certificate for mTLS.
    /// - Throws: ``GigaChatError`` with code ``GigaChatError/Code/configuration`` when a file cannot be read.
    public func makeTLSConfiguration() throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        do {
            if !self.verifyCertificates && self.caBundleFile == nil {
                tls.certificateVerification = .none
            } else {
                tls.certificateVerification = .fullVerification
                tls.trustRoots = .default
                var additional: [NIOSSLAdditionalTrustRoots] = []
                if self.trustRussianRootCA {
                    additional.append(
                        .certificates(try NIOSSLCertificate.fromPEMBytes(Array(RussianTrustedRootCA.pem.utf8)))
                    )
                }
                if let file = self.caBundleFile {
                    // Loaded now (not lazily as `.file`) so a wrong path fails at start-up, not at the first call.
                    additional.append(.certificates(try Self.loadCertificates(file, what: "CA bundle")))
                }
                tls.additionalTrustRoots = additional
            }
            if let certificateFile = self.certificateFile, let keyFile = self.keyFile {
                tls.certificateChain = try Self.loadCertificates(certificateFile, what: "client certificate")
                    .map { .certificate($0) }
                let key: NIOSSLPrivateKey
                if let password = self.keyFilePassword {
                    key = try NIOSSLPrivateKey(file: keyFile, format: .pem) { setter in setter(Array(password.utf8)) }
                } else {
                    key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
                }
                tls.privateKey = .privateKey(key)
            }
        } catch let error as GigaChatError {
            throw error
        } catch {
            // NIOSSL errors name the failing step, never the key password.
            throw GigaChatError(code: .configuration, message: "TLS setup failed", underlying: "\(error)")
        }
        return tls
    }

    private static func loadCertificates(_ file: String, what: String) throws -> [NIOSSLCertificate] {
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(file)
        } catch {
            throw GigaChatError(code: .configuration, message: "cannot read \(what) \(file)", underlying: "\(error)")
        }
        guard !certificates.isEmpty else {
            throw GigaChatError(code: .configuration, message: "\(what) \(file) holds no PEM certificate")
        }
        return certificates
    }
}
