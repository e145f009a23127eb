// One Apache Curator contender, driven by lines on stdin; replies one line each on stdout.
// Usage: java -cp <curator jars>:<dir> CuratorDriver <connect/chroot> <ledger file> <id>
// See interop-driver.ts for the protocol. The ledger gets "enter <id> <what>" after an
// acquisition and "exit <id> <what>" before a release, appended (O_APPEND) one line per write.
import java.io.BufferedReader;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.LeaderLatchListener;
import org.apache.curator.framework.recipes.leader.LeaderSelector;
import org.apache.curator.framework.recipes.leader.LeaderSelectorListenerAdapter;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.recipes.locks.InterProcessReadWriteLock;
import org.apache.curator.framework.recipes.locks.InterProcessSemaphoreV2;
import org.apache.curator.framework.recipes.locks.Lease;
import org.apache.curator.framework.recipes.locks.StandardLockInternalsDriver;
import org.apache.curator.framework.recipes.shared.SharedValue;
import org.apache.curator.framework.recipes.shared.SharedValueListener;
import org.apache.curator.framework.recipes.shared.SharedValueReader;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.curator.x.discovery.ServiceDiscovery;
import org.apache.curator.x.discovery.ServiceDiscoveryBuilder;
import org.apache.curator.x.discovery.ServiceInstance;
import org.apache.curator.x.discovery.details.JsonInstanceSerializer;

public class CuratorDriver {
    /**
     * Orders every child by its 10-digit sequence suffix (signed 32-bit), whatever its name:
     * Curator's own driver orders only names containing its lock name by sequence, and all
     * others by their whole text (so a Kazoo "<uuid>__lock__NNNNNNNNNN" sorts after it).
     */
    static class SequenceSortingDriver extends StandardLockInternalsDriver {
        @Override
        public String fixForSorting(String str, String lockName) {
            if (str.length() < 10) return str;
            String tail = str.substring(str.length() - 10);
            try {
                long seq = Integer.parseInt(tail);
                return String.format("%010d", seq + 2147483648L);
            } catch (NumberFormatException e) {
                return str;
            }
        }
    }

    static FileOutputStream ledger;
    static boolean leading = false;
    static String id;
    static final ObjectMapper mapper = new ObjectMapper();

    static void say(String line) {
        synchronized (System.out) {
            System.out.println(line);
            System.out.flush();
        }
    }

    static void log(String what, String kind) throws Exception {
        ledger.write((what + " " + id + " " + kind + "\n").getBytes(StandardCharsets.UTF_8));
    }

    public static void main(String[] args) throws Exception {
        String connect = args[0];
        ledger = new FileOutputStream(args[1], true);
        id = args[2];
        CuratorFramework client = CuratorFrameworkFactory.builder()
            .connectString(connect)
            .sessionTimeoutMs(2000)
            .connectionTimeoutMs(10000)
            .retryPolicy(new ExponentialBackoffRetry(50, 10, 500))
            .build();
        client.start();
        if (!client.blockUntilConnected(20, TimeUnit.SECONDS)) {
            say("error not connected");
            System.exit(1);
        }
        say("ready");
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        InterProcessMutex mutex = null;
        InterProcessSemaphoreV2 semaphore = null;
        Lease lease = null;
        LeaderLatch latch = null;
        LeaderSelector selector = null;
        CountDownLatch selectorResign = null;
        CountDownLatch selectorDone = null;
        ServiceDiscovery<Object> discovery = null;
        SharedValue shared = null;
        String kind = "";
        String line;
        while ((line = in.readLine()) != null) {
            String[] w = line.trim().split(" ");
            try {
                switch (w[0]) {
                    case "mutex": // mutex <path> [sorted]
                        kind = "mutex";
                        mutex = w.length > 2 && w[2].equals("sorted")
                            ? new InterProcessMutex(client, w[1], new SequenceSortingDriver())
                            : new InterProcessMutex(client, w[1]);
                        say("ok");
                        break;
                    case "read": // read <path>
                    case "write":
                        kind = w[0];
                        InterProcessReadWriteLock rw = new InterProcessReadWriteLock(client, w[1]);
                        mutex = w[0].equals("read") ? rw.readLock() : rw.writeLock();
                        say("ok");
                        break;
                    case "semaphore": // semaphore <path> <maxLeases>
                        kind = "semaphore";
                        semaphore = new InterProcessSemaphoreV2(client, w[1], Integer.parseInt(w[2]));
                        say("ok");
                        break;
                    case "acquire": { // acquire [timeoutMs]
                        long timeout = w.length > 1 ? Long.parseLong(w[1]) : 60000;
                        boolean got;
                        if (semaphore != null) {
                            lease = semaphore.acquire(timeout, TimeUnit.MILLISECONDS);
                            got = lease != null;
                        } else {
                            got = mutex.acquire(timeout, TimeUnit.MILLISECONDS);
                        }
                        if (got) {
                            log("enter", kind);
                            say("held");
                        } else say("timeout");
                        break;
                    }
                    case "release":
                        log("exit", kind);
                        if (semaphore != null) {
                            semaphore.returnLease(lease);
                            lease = null;
                        } else mutex.release();
                        say("released");
                        break;
                    case "lead": // lead <path>: joins, answers "leader" once leading
                        latch = new LeaderLatch(client, w[1], id);
                        latch.start();
                        latch.await();
                        synchronized (CuratorDriver.class) {
                            leading = true;
                            log("enter", "leader");
                        }
                        // Leadership lost (suspended, session gone) ends the term in the ledger.
                        latch.addListener(new LeaderLatchListener() {
                            @Override
                            public void isLeader() {}

                            @Override
                            public void notLeader() {
                                synchronized (CuratorDriver.class) {
                                    try {
                                        if (leading) log("exit", "leader");
                                    } catch (Exception e) {
                                        say("error " + e);
                                    }
                                    leading = false;
                                }
                            }
                        });
                        synchronized (CuratorDriver.class) {
                            if (leading && !latch.hasLeadership()) {
                                log("exit", "leader");
                                leading = false;
                            }
                        }
                        say("leader");
                        break;
                    case "select": { // select <path>: a LeaderSelector; answers "leader" once leading
                        CountDownLatch became = new CountDownLatch(1);
                        CountDownLatch resign = new CountDownLatch(1);
                        CountDownLatch done = new CountDownLatch(1);
                        selector = new LeaderSelector(client, w[1], new LeaderSelectorListenerAdapter() {
                            @Override
                            public void takeLeadership(CuratorFramework c) throws Exception {
                                synchronized (CuratorDriver.class) {
                                    leading = true;
                                    log("enter", "leader");
                                }
                                became.countDown();
                                try {
                                    resign.await(); // interrupted when the connection is suspended or lost
                                } finally {
                                    synchronized (CuratorDriver.class) {
                                        if (leading) log("exit", "leader");
                                        leading = false;
                                    }
                                    done.countDown();
                                }
                            }
                        });
                        selector.setId(id);
                        selector.start();
                        became.await();
                        selectorResign = resign;
                        selectorDone = done;
                        say("leader");
                        break;
                    }
                    case "resign":
                        if (selector != null) {
                            selectorResign.countDown();
                            selectorDone.await();
                            selector.close();
                            selector = null;
                            say("resigned");
                            break;
                        }
                        synchronized (CuratorDriver.class) {
                            if (leading) log("exit", "leader");
                            leading = false;
                        }
                        latch.close();
                        latch = null;
                        say("resigned");
                        break;
                    case "register": { // register <base> <name> <id> <host> <port> <payload json>
                        if (discovery == null) discovery = discovery(client, w[1]);
                        String json = line.trim().split(" ", 7)[6];
                        ServiceInstance<Object> instance = ServiceInstance.<Object>builder()
                            .name(w[2]).id(w[3]).address(w[4]).port(Integer.parseInt(w[5]))
                            .payload(mapper.readValue(json, Object.class)).build();
                        discovery.registerService(instance);
                        say("registered");
                        break;
                    }
                    case "query": { // query <base> <name>
                        if (discovery == null) discovery = discovery(client, w[1]);
                        Collection<ServiceInstance<Object>> found = discovery.queryForInstances(w[2]);
                        List<Map<String, Object>> out = new ArrayList<>();
                        for (ServiceInstance<Object> i : found) {
                            Map<String, Object> m = new LinkedHashMap<>();
                            m.put("id", i.getId());
                            m.put("host", i.getAddress());
                            m.put("port", i.getPort());
                            m.put("payload", i.getPayload());
                            out.add(m);
                        }
                        say("instances " + mapper.writeValueAsString(out));
                        break;
                    }
                    case "shared": { // shared <path> <seed base64>: a started SharedValue, "changed <b64>" on each change
                        shared = new SharedValue(client, w[1], Base64.getDecoder().decode(w.length > 2 ? w[2] : ""));
                        shared.getListenable().addListener(new SharedValueListener() {
                            @Override
                            public void valueHasChanged(SharedValueReader r, byte[] v) {
                                say("changed " + Base64.getEncoder().encodeToString(v));
                            }

                            @Override
                            public void stateChanged(CuratorFramework c, ConnectionState s) {}
                        });
                        shared.start();
                        say("value " + Base64.getEncoder().encodeToString(shared.getValue()));
                        break;
                    }
                    case "get":
                        say("value " + Base64.getEncoder().encodeToString(shared.getValue()));
                        break;
                    case "set": // set <base64>
                        shared.setValue(Base64.getDecoder().decode(w.length > 1 ? w[1] : ""));
                        say("ok");
                        break;
                    case "quit":
                        client.close();
                        say("bye");
                        System.exit(0);
                        break;
                    default:
                        say("error unknown command " + w[0]);
                }
            } catch (Exception e) {
                say("error " + e.toString().replace('\n', ' '));
            }
        }
        System.exit(0);
    }

    static ServiceDiscovery<Object> discovery(CuratorFramework client, String base) throws Exception {
        ServiceDiscovery<Object> d = ServiceDiscoveryBuilder.builder(Object.class)
            .client(client)
            .basePath(base)
            .serializer(new JsonInstanceSerializer<>(Object.class))
            .build();
        d.start();
        return d;
    }
}
