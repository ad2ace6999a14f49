import Logging
import Testing

@testable import Kafka

@Suite(.timeLimit(.minutes(1))) struct ConfigurationTests {
    @Test func unknownPropertyIsAClearErrorNamingIt() {
        var configuration = KafkaProducerConfiguration(bootstrapServers: ["127.0.0.1:9"])
        configuration.properties["no.such.property"] = "some-value-1234"
        let error = #expect(throws: KafkaError.self) {
            _ = try KafkaProducer(configuration: configuration, logger: testLogger)
        }
        #expect(error?.code == .config)
        #expect(error?.message.contains("no.such.property") == true)
        #expect(error?.message.contains("some-value-1234") == false)
    }

    @Test func invalidValueNamesThePropertyNotTheValue() {
        var configuration = KafkaConsumerConfiguration(bootstrapServers: ["127.0.0.1:9"], groupID: "g")
        configuration.properties["session.timeout.ms"] = "not-a-number"
        let error = #expect(throws: KafkaError.self) {
            _ = try KafkaConsumer(configuration: configuration, logger: testLogger)
        }
        #expect(error?.code == .config)
        #expect(error?.message.contains("session.timeout.ms") == true)
        #expect(error?.message.contains("not-a-number") == false)
    }

    @Test func typedFieldsBecomeLibrdkafkaPropertiesAndRawPropertiesWin() {
        var configuration = KafkaProducerConfiguration(bootstrapServers: ["a:1", "b:2"])
        configuration.linger = .milliseconds(20)
        configuration.properties["linger.ms"] = "7"
        let properties = configuration.rdKafkaProperties
        #expect(properties.first! == ("bootstrap.servers", "a:1,b:2"))
        #expect(properties.contains { $0 == ("enable.idempotence", "true") })
        // Applied in order: the raw value comes later, so librdkafka ends with it.
        #expect(properties.lastIndex { $0.0 == "linger.ms" && $0.1 == "7" }! > properties.firstIndex { $0.1 == "20" }!)
    }

    @Test func consumerAlwaysDisablesAutomaticOffsetsEvenIfPropertiesAskOtherwise() {
        var configuration = KafkaConsumerConfiguration(bootstrapServers: ["a:1"], groupID: "g")
        configuration.properties["enable.auto.commit"] = "true"
        let last = configuration.rdKafkaProperties.last { $0.0 == "enable.auto.commit" }
        #expect(last?.1 == "false")
        #expect(configuration.rdKafkaProperties.contains { $0 == ("enable.auto.offset.store", "false") })
        #expect(configuration.rdKafkaProperties.contains { $0 == ("partition.assignment.strategy", "range") })
    }

    @Test func theRebalanceProtocolFollowsTheEffectiveStrategy() {
        var configuration = KafkaConsumerConfiguration(bootstrapServers: ["a:1"], groupID: "g")
        #expect(!configuration.usesCooperativeRebalancing)
        configuration.partitionAssignment = .cooperativeSticky
        #expect(configuration.usesCooperativeRebalancing)
        // A raw property overrides the typed field.
        configuration.properties["partition.assignment.strategy"] = "range"
        #expect(!configuration.usesCooperativeRebalancing)
        configuration.partitionAssignment = .range
        configuration.properties["partition.assignment.strategy"] = " cooperative-sticky "
        #expect(configuration.usesCooperativeRebalancing)
        configuration.properties["partition.assignment.strategy"] = "cooperative-sticky,range"
        #expect(!configuration.usesCooperativeRebalancing)
    }

    @Test func secretsNeverAppearInDescriptionsErrorsOrLogs() async throws {
        let secret = "Sup3r-S3cret-Passw0rd"
        let store = RecordingLogHandlerStore()
        var configuration = KafkaProducerConfiguration(bootstrapServers: ["127.0.0.1:9"])
        configuration.properties = [
            "security.protocol": "sasl_plaintext",
            "sasl.mechanisms": "PLAIN",
            "sasl.username": "user",
            "sasl.password": secret,
            "debug": "conf,security,broker,generic",
            "log_level": "7",
        ]
        #expect(!"\(configuration)".contains(secret))
        #expect("\(configuration)".contains("sasl.password=[REDACTED]"))
        var dumped = ""
        dump(configuration, to: &dumped)
        #expect(!dumped.contains(secret))

        let producer = try KafkaProducer(configuration: configuration, logger: store.logger())
        await producer.close(timeout: .zero)

        // rd_kafka_new fails (no such key file) with the password set: the error must not carry it.
        var broken = KafkaProducerConfiguration(bootstrapServers: ["127.0.0.1:9"])
        broken.properties = [
            "security.protocol": "ssl",
            "ssl.key.location": "/nonexistent/key.pem",
            "ssl.key.password": secret,
        ]
        let error = #expect(throws: KafkaError.self) {
            _ = try KafkaProducer(configuration: broken, logger: store.logger())
        }
        #expect(error.map { !"\($0)".contains(secret) } == true)

        let lines = store.lines.withLock { $0 }
        #expect(lines.count > 10, "debug logging should have produced lines")
        #expect(lines.contains { $0.contains("sasl.password") || $0.contains("PLAIN") })
        #expect(!lines.contains { $0.contains(secret) })
    }

    @Test func secretScrubbingReplacesEveryOccurrence() {
        let text = RDKafkaConfig.scrub("a=xyzzy-1 b=xyzzy-1", secrets: ["xyzzy-1"])
        #expect(text == "a=[REDACTED] b=[REDACTED]")
        #expect(RDKafkaConfig.isSecret("sasl.oauthbearer.client.secret"))
        #expect(RDKafkaConfig.isSecret("ssl.keystore.password"))
        #expect(!RDKafkaConfig.isSecret("bootstrap.servers"))
    }

    @Test func syslogLevelsMapToSwiftLogLevels() {
        #expect(RDKafkaClientContext.logLevel(syslog: 0) == .critical)
        #expect(RDKafkaClientContext.logLevel(syslog: 3) == .error)
        #expect(RDKafkaClientContext.logLevel(syslog: 4) == .warning)
        #expect(RDKafkaClientContext.logLevel(syslog: 5) == .notice)
        #expect(RDKafkaClientContext.logLevel(syslog: 6) == .info)
        #expect(RDKafkaClientContext.logLevel(syslog: 7) == .debug)
    }
}
