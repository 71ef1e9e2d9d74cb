// A small Kafka Admin client for scripts/kafka, run with Java's single-file source launcher:
//
//   java -cp '<cache>/kafka-<version>/libs/*' KafkaProbe.java <command> [options]
//
// It exists because "the log says started" is not "a client can use it": scripts/kafka calls
// `wait` to block until a real metadata request (DescribeCluster) answers and lists the expected
// brokers as registered and unfenced. `describe` and `create-topic` are there for people and tests.
//
// Commands (output on stdout, progress and errors on stderr; exit 0 = success):
//   describe     --bootstrap B [--timeout-s S]
//       Prints "cluster-id <id>", "controller <id>" and one "broker <id> <host>:<port>" per broker.
//   wait         --bootstrap B [--nodes 1,2,3] [--timeout-s S]
//       Retries DescribeCluster until every listed node id is an active broker (without --nodes:
//       until any broker answers). Exit 1 on timeout.
//   create-topic --bootstrap B --topic T [--partitions P] [--replication R] [--config k=v]...
//                [--if-not-exists] [--timeout-s S]
//       Creates a topic and waits until its metadata shows every partition with a leader.
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.CreateTopicsOptions;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.errors.TopicExistsException;

public class KafkaProbe {
    private static final class Args {
        String command;
        String bootstrap;
        String topic;
        int partitions = 1;
        short replication = 1;
        int timeoutS = 30;
        boolean ifNotExists = false;
        Set<Integer> nodes = new LinkedHashSet<>();
        Map<String, String> configs = new HashMap<>();
    }

    public static void main(String[] argv) {
        int rc;
        try {
            Args a = parse(argv);
            switch (a.command) {
                case "describe": rc = describe(a); break;
                case "wait": rc = waitReady(a); break;
                case "create-topic": rc = createTopic(a); break;
                default: throw new IllegalArgumentException("unknown command: " + a.command);
            }
        } catch (IllegalArgumentException e) {
            System.err.println("KafkaProbe: " + e.getMessage());
            System.err.println("usage: KafkaProbe {describe|wait|create-topic} --bootstrap HOST:PORT[,...] [options]");
            rc = 2;
        } catch (Exception e) {
            Throwable cause = (e instanceof ExecutionException && e.getCause() != null) ? e.getCause() : e;
            System.err.println("KafkaProbe: " + cause.getClass().getSimpleName() + ": " + cause.getMessage());
            rc = 1;
        }
        // The Admin client's threads are closed already; exit explicitly so that no stray
        // non-daemon thread can keep the launcher JVM alive.
        System.exit(rc);
    }

    private static Args parse(String[] argv) {
        if (argv.length == 0) throw new IllegalArgumentException("missing command");
        Args a = new Args();
        a.command = argv[0];
        for (int i = 1; i < argv.length; i++) {
            String opt = argv[i];
            if (opt.equals("--if-not-exists")) { a.ifNotExists = true; continue; }
            if (i + 1 >= argv.length) throw new IllegalArgumentException("option " + opt + " needs a value");
            String v = argv[++i];
            switch (opt) {
                case "--bootstrap": a.bootstrap = v; break;
                case "--topic": a.topic = v; break;
                case "--partitions": a.partitions = Integer.parseInt(v); break;
                case "--replication": a.replication = Short.parseShort(v); break;
                case "--timeout-s": a.timeoutS = Integer.parseInt(v); break;
                case "--nodes":
                    for (String n : v.split(",")) if (!n.isBlank()) a.nodes.add(Integer.parseInt(n.trim()));
                    break;
                case "--config": {
                    int eq = v.indexOf('=');
                    if (eq <= 0) throw new IllegalArgumentException("--config wants key=value, got " + v);
                    a.configs.put(v.substring(0, eq), v.substring(eq + 1));
                    break;
                }
                default: throw new IllegalArgumentException("unknown option " + opt);
            }
        }
        if (a.bootstrap == null || a.bootstrap.isBlank()) throw new IllegalArgumentException("--bootstrap is required");
        if (a.command.equals("create-topic") && a.topic == null) throw new IllegalArgumentException("--topic is required");
        return a;
    }

    private static Admin admin(String bootstrap, int timeoutS) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.CLIENT_ID_CONFIG, "messagecorps-kafka-probe");
        // Short per-request timeouts: `wait` retries on its own, and a broker that is still
        // starting should cost one quick retry, not a 30 s default.
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "3000");
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, String.valueOf(Math.max(timeoutS, 3) * 1000));
        p.put(AdminClientConfig.RECONNECT_BACKOFF_MS_CONFIG, "100");
        p.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "500");
        p.put(AdminClientConfig.RETRY_BACKOFF_MS_CONFIG, "100");
        p.put(AdminClientConfig.RETRY_BACKOFF_MAX_MS_CONFIG, "500");
        return Admin.create(p);
    }

    private static final class ClusterView {
        String clusterId;
        Node controller;
        List<Node> brokers;
    }

    private static ClusterView describeOnce(Admin admin, int timeoutMs) throws Exception {
        DescribeClusterResult r = admin.describeCluster(new DescribeClusterOptions().timeoutMs(timeoutMs));
        ClusterView v = new ClusterView();
        v.clusterId = r.clusterId().get(timeoutMs, TimeUnit.MILLISECONDS);
        v.controller = r.controller().get(timeoutMs, TimeUnit.MILLISECONDS);
        v.brokers = new ArrayList<>(r.nodes().get(timeoutMs, TimeUnit.MILLISECONDS));
        v.brokers.sort((x, y) -> Integer.compare(x.id(), y.id()));
        return v;
    }

    private static int describe(Args a) throws Exception {
        try (Admin admin = admin(a.bootstrap, a.timeoutS)) {
            ClusterView v = describeOnce(admin, a.timeoutS * 1000);
            System.out.println("cluster-id " + v.clusterId);
            System.out.println("controller " + (v.controller == null ? "none" : v.controller.id()));
            for (Node n : v.brokers) System.out.println("broker " + n.id() + " " + n.host() + ":" + n.port());
        }
        return 0;
    }

    private static int waitReady(Args a) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(a.timeoutS);
        String last = "no answer yet";
        try (Admin admin = admin(a.bootstrap, a.timeoutS)) {
            while (System.nanoTime() < deadline) {
                long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
                try {
                    ClusterView v = describeOnce(admin, (int) Math.max(500, Math.min(3000, left)));
                    Set<Integer> seen = v.brokers.stream().map(Node::id).collect(Collectors.toSet());
                    if (a.nodes.isEmpty() ? !seen.isEmpty() : seen.containsAll(a.nodes)) {
                        System.out.println("ready cluster-id " + v.clusterId + " brokers " + sorted(seen));
                        return 0;
                    }
                    last = "active brokers " + sorted(seen) + ", waiting for " + a.nodes;
                } catch (Exception e) {
                    Throwable c = (e instanceof ExecutionException && e.getCause() != null) ? e.getCause() : e;
                    last = c.getClass().getSimpleName() + (c.getMessage() == null ? "" : ": " + c.getMessage());
                }
                Thread.sleep(250);
            }
        }
        System.err.println("KafkaProbe: not ready after " + a.timeoutS + " s (" + last + ")");
        return 1;
    }

    private static int createTopic(Args a) throws Exception {
        try (Admin admin = admin(a.bootstrap, a.timeoutS)) {
            NewTopic t = new NewTopic(a.topic, a.partitions, a.replication).configs(a.configs);
            try {
                admin.createTopics(Collections.singleton(t), new CreateTopicsOptions().timeoutMs(a.timeoutS * 1000))
                     .all().get(a.timeoutS, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                if (!(a.ifNotExists && e.getCause() instanceof TopicExistsException)) throw e;
            }
            // CreateTopics returns once the controller has committed the topic; brokers learn of it a
            // moment later. Wait until the metadata shows a leader for every partition so that a
            // producer started right after this gets no UNKNOWN_TOPIC_OR_PARTITION.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(a.timeoutS);
            while (true) {
                try {
                    TopicDescription d = admin.describeTopics(Collections.singleton(a.topic))
                        .allTopicNames().get(a.timeoutS, TimeUnit.SECONDS).get(a.topic);
                    boolean led = !d.partitions().isEmpty()
                        && d.partitions().stream().allMatch(p -> p.leader() != null && !p.leader().isEmpty());
                    if (led) {
                        for (TopicPartitionInfo p : d.partitions()) {
                            System.out.println("partition " + p.partition() + " leader " + p.leader().id()
                                + " replicas " + ids(p.replicas()) + " isr " + ids(p.isr()));
                        }
                        return 0;
                    }
                } catch (ExecutionException e) {
                    // UnknownTopicOrPartition while the metadata propagates: retry below.
                }
                if (System.nanoTime() > deadline) {
                    System.err.println("KafkaProbe: topic " + a.topic + " has no leader for every partition after " + a.timeoutS + " s");
                    return 1;
                }
                Thread.sleep(100);
            }
        }
    }

    private static List<Integer> sorted(Set<Integer> s) {
        List<Integer> l = new ArrayList<>(s);
        Collections.sort(l);
        return l;
    }

    private static String ids(List<Node> nodes) {
        return nodes.stream().map(n -> String.valueOf(n.id())).collect(Collectors.joining(",", "[", "]"));
    }
}
