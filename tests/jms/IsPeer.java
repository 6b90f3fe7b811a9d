import com.fasterxml.jackson.core.json.JsonWriteFeature;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStreamReader;
import java.io.ObjectInputFilter;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.PrintStream;
import java.io.Serializable;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.jms.BytesMessage;
import javax.jms.Connection;
import javax.jms.JMSException;
import javax.jms.Message;
import javax.jms.MessageConsumer;
import javax.jms.MessageProducer;
import javax.jms.Session;
import javax.jms.TextMessage;
import javax.jms.Topic;
import org.apache.activemq.ActiveMQConnectionFactory;
import org.wso2.carbon.identity.oauth.cache.OAuthCacheKey;

/**
 * A JMS peer standing in for WSO2 Identity Server nodes running the cache-sync connector
 * (carbon-cache-sync-manager) on ActiveMQ over OpenWire. Test code of cachesync, not IS.
 *
 * <pre>java IsPeer --url tcp://127.0.0.1:61626 --topic T --sender NAME [--mode consume|hybrid|send]</pre>
 *
 * Publishes what the connector publishes: a TextMessage with the string property
 * "sender", whose text is the 2.1.9+ JSON (cacheKeyBase64 = the key's Java serialization
 * stream) or the 2.0.x-2.1.8 legacy text (ClusterCacheInvalidationRequest.toString()).
 * Consumes as the connector does: skips its own sender, ignores what is not a TextMessage,
 * reads JSON with Jackson into the connector's five fields (unknown fields rejected), the
 * key with ObjectInputStream (filtered to String, Number and org.wso2.carbon.identity
 * classes), the legacy text with the 2.1.8 consumer's regular expression and find().
 * Mode "hybrid" re-publishes each message it accepted under its own sender, as IS hybrid
 * mode does with what a coordinator relays; "send" does not subscribe.
 *
 * Commands on stdin, one JSON object a line:
 *   {"op":"publish","id":1,"format":"json"|"legacy","tenantDomain":..,"tenantId":..,
 *    "manager":..,"cache":.., and one of "key":"str", "oauthKey":"str", "clearAll":true,
 *    "keyBase64":"stream" (json only)}
 *   {"op":"text","id":2,"text":"..."}      a TextMessage with this text, own sender
 *   {"op":"bytes","id":3,"base64":"..."}   a BytesMessage, own sender
 *   {"op":"quit"}
 * Events on stdout, one JSON object a line, non-ASCII escaped:
 *   ready, sent {id,text}, received {...}, own {...}, republished {...}, error {where,message}.
 */
public final class IsPeer {
    static final String LOCAL_PREFIX = "$__local__$.";
    static final String CLEAR_ALL = "$__clear__all__$.";
    /** JMSConsumer.invalidateCache's pattern in connector 2.0.x-2.1.8, verbatim. */
    static final Pattern LEGACY = Pattern.compile(
        "ClusterCacheInvalidationRequest\\{tenantId=(?<tenantId>-?\\d+), tenantDomain='(?<tenantDomain>[\\w.]+)', "
        + "messageId=(?<messageId>[\\w-]+), cacheManager=(?<cacheManager>[\\w.]+), cache=(?<cache>.*?), "
        + "cacheKey=(?<cacheKey>.*?)\\}");
    static final ObjectInputFilter KEY_FILTER = ObjectInputFilter.Config.createFilter(
        "java.lang.String;java.lang.Number;java.lang.Integer;java.lang.Long;"
        + "org.wso2.carbon.identity.**;maxdepth=8;maxrefs=100;maxbytes=1000000;!*");

    /** The 2.1.9+ connector's message body (Jackson rejects any other field). */
    public static final class CacheInvalidation {
        public String tenantDomain;
        public int tenantId;
        public String cacheManagerName;
        public String cacheName;
        public String cacheKeyBase64;
    }

    final ObjectMapper json = JsonMapper.builder().enable(JsonWriteFeature.ESCAPE_NON_ASCII).build();
    final PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    final String sender;
    final String mode;
    Session listenerSession;
    MessageProducer republisher;

    IsPeer(String sender, String mode) {
        this.sender = sender;
        this.mode = mode;
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> opts = new LinkedHashMap<>();
        opts.put("--mode", "consume");
        for (int i = 0; i + 1 < args.length; i += 2) {
            opts.put(args[i], args[i + 1]);
        }
        if (!opts.containsKey("--url") || !opts.containsKey("--topic") || !opts.containsKey("--sender")) {
            System.err.println("usage: IsPeer --url tcp://host:port --topic T --sender NAME [--mode consume|hybrid|send]");
            System.exit(2);
        }
        new IsPeer(opts.get("--sender"), opts.get("--mode")).run(opts.get("--url"), opts.get("--topic"));
    }

    void run(String url, String topicName) throws Exception {
        ActiveMQConnectionFactory factory = new ActiveMQConnectionFactory(url);
        factory.setWatchTopicAdvisories(false);
        Connection connection = factory.createConnection();
        connection.setExceptionListener(e -> emit("error", "where", "connection", "message", String.valueOf(e)));
        Session session = connection.createSession(false, Session.AUTO_ACKNOWLEDGE);
        Topic topic = session.createTopic(topicName);
        MessageProducer producer = session.createProducer(topic);
        if (!"send".equals(mode)) {
            listenerSession = connection.createSession(false, Session.AUTO_ACKNOWLEDGE);
            republisher = listenerSession.createProducer(listenerSession.createTopic(topicName));
            MessageConsumer consumer = listenerSession.createConsumer(listenerSession.createTopic(topicName));
            consumer.setMessageListener(this::onMessage);
        }
        connection.start();
        emit("ready", "sender", sender, "mode", mode);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isBlank()) {
                continue;
            }
            Map<String, Object> command;
            try {
                command = json.readValue(line, new TypeReference<Map<String, Object>>() { });
            } catch (Exception e) {
                emit("error", "where", "stdin", "message", e.toString());
                continue;
            }
            if ("quit".equals(command.get("op"))) {
                break;
            }
            try {
                command(session, producer, command);
            } catch (Exception e) {
                emit("error", "where", "command", "id", command.get("id"), "message", e.toString());
            }
        }
        connection.close();
        emit("closed");
    }

    void command(Session session, MessageProducer producer, Map<String, Object> c) throws Exception {
        Object op = c.get("op");
        Message message;
        String text = null;
        if ("publish".equals(op)) {
            text = body(c);
            message = session.createTextMessage(text);
        } else if ("text".equals(op)) {
            text = (String) c.get("text");
            message = session.createTextMessage(text);
        } else if ("bytes".equals(op)) {
            BytesMessage bytes = session.createBytesMessage();
            bytes.writeBytes(Base64.getDecoder().decode((String) c.get("base64")));
            message = bytes;
        } else {
            throw new IllegalArgumentException("unknown op " + op);
        }
        message.setStringProperty("sender", sender);
        producer.send(message);
        emit("sent", "id", c.get("id"), "text", text);
    }

    /** What the connector sends for one invalidation, in c's "format". */
    String body(Map<String, Object> c) throws Exception {
        String domain = (String) c.getOrDefault("tenantDomain", "carbon.super");
        int tenantId = ((Number) c.getOrDefault("tenantId", -1234)).intValue();
        String manager = (String) c.get("manager");
        String cache = (String) c.get("cache");
        if (!cache.startsWith(LOCAL_PREFIX)) {
            cache = LOCAL_PREFIX + cache;
        }
        Object key;
        if (Boolean.TRUE.equals(c.get("clearAll"))) {
            key = CLEAR_ALL;
        } else if (c.containsKey("oauthKey")) {
            key = new OAuthCacheKey((String) c.get("oauthKey"));
        } else {
            key = c.get("key");
        }
        String format = (String) c.getOrDefault("format", "json");
        if ("legacy".equals(format)) { // carbon-kernel's ClusterCacheInvalidationRequest.toString()
            return "ClusterCacheInvalidationRequest{" + "tenantId=" + tenantId + ", tenantDomain='" + domain + '\''
                + ", messageId=" + UUID.randomUUID() + ", cacheManager=" + manager + ", cache=" + cache
                + ", cacheKey=" + String.valueOf(key) + '}';
        }
        CacheInvalidation dto = new CacheInvalidation();
        dto.tenantDomain = domain;
        dto.tenantId = tenantId;
        dto.cacheManagerName = manager;
        dto.cacheName = cache;
        dto.cacheKeyBase64 = c.containsKey("keyBase64") ? (String) c.get("keyBase64")
            : Base64.getEncoder().encodeToString(serialize((Serializable) key));
        return new ObjectMapper().writeValueAsString(dto); // as the connector's ObjectMapper writes it
    }

    static byte[] serialize(Serializable key) throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream stream = new ObjectOutputStream(bytes)) {
            stream.writeObject(key);
        }
        return bytes.toByteArray();
    }

    void onMessage(Message message) {
        Map<String, Object> seen = new LinkedHashMap<>();
        try {
            String from = message.getStringProperty("sender");
            seen.put("sender", from);
            if (!(message instanceof TextMessage)) {
                seen.put("messageClass", message.getClass().getSimpleName());
                seen.put("accepted", false);
                seen.put("error", "not a TextMessage: the connector ignores it");
                emit("received", seen);
                return;
            }
            seen.put("messageClass", "TextMessage");
            String text;
            try {
                text = ((TextMessage) message).getText();
            } catch (JMSException e) {
                seen.put("accepted", false);
                seen.put("error", "getText failed: " + e + (e.getCause() != null ? " / " + e.getCause() : ""));
                emit("received", seen);
                return;
            }
            seen.put("text", text);
            if (sender.equals(from)) { // the connector skips its own messages
                emit("own", seen);
                return;
            }
            read(text, seen);
            emit("received", seen);
            if ("hybrid".equals(mode) && Boolean.TRUE.equals(seen.get("accepted"))) {
                TextMessage again = listenerSession.createTextMessage(text);
                again.setStringProperty("sender", sender);
                republisher.send(again);
                emit("republished", "text", text, "from", from);
            }
        } catch (Throwable e) { // never let a message stop the listener
            emit("error", "where", "listener", "message", e.toString());
        }
    }

    void read(String text, Map<String, Object> seen) {
        if (text == null) {
            seen.put("accepted", false);
            seen.put("error", "null text");
        } else if (text.startsWith("{")) {
            seen.put("format", "json");
            try {
                CacheInvalidation dto = json.readValue(text, CacheInvalidation.class);
                seen.put("tenantDomain", dto.tenantDomain);
                seen.put("tenantId", dto.tenantId);
                seen.put("cacheManagerName", dto.cacheManagerName);
                seen.put("cacheName", dto.cacheName);
                seen.put("cacheKeyBase64", dto.cacheKeyBase64);
                readKey(Base64.getDecoder().decode(dto.cacheKeyBase64), seen);
                seen.put("accepted", true);
            } catch (Exception e) {
                seen.put("accepted", false);
                seen.put("error", e.toString());
            }
        } else {
            seen.put("format", "legacy");
            Matcher m = LEGACY.matcher(text);
            if (!m.find()) {
                seen.put("accepted", false);
                seen.put("error", "the 2.1.8 connector's pattern does not match");
                return;
            }
            seen.put("tenantDomain", m.group("tenantDomain"));
            seen.put("tenantId", Integer.parseInt(m.group("tenantId")));
            seen.put("cacheManagerName", m.group("cacheManager"));
            seen.put("cacheName", m.group("cache"));
            String key = m.group("cacheKey");
            seen.put("keyClass", "java.lang.String");
            seen.put("key", key);
            seen.put("clearAll", CLEAR_ALL.equals(key));
            seen.put("accepted", true);
        }
    }

    static void readKey(byte[] stream, Map<String, Object> seen) throws Exception {
        Object key;
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(stream))) {
            in.setObjectInputFilter(KEY_FILTER);
            key = in.readObject();
        }
        seen.put("keyClass", key == null ? null : key.getClass().getName());
        if (key instanceof String) {
            seen.put("key", key);
            seen.put("clearAll", CLEAR_ALL.equals(key));
            return;
        }
        seen.put("clearAll", false);
        seen.put("key", String.valueOf(key));
        if (key == null || key.getClass().getName().startsWith("java.")) {
            return; // Integer, Long...: the value is the text
        }
        Map<String, Object> fields = new LinkedHashMap<>();
        for (Class<?> type = key.getClass(); type != null && type != Object.class; type = type.getSuperclass()) {
            for (Field field : type.getDeclaredFields()) {
                if (Modifier.isStatic(field.getModifiers())) {
                    continue;
                }
                field.setAccessible(true);
                fields.put(field.getName(), String.valueOf(field.get(key)));
            }
        }
        seen.put("keyFields", fields);
    }

    void emit(String event, Object... pairs) {
        Map<String, Object> fields = new LinkedHashMap<>();
        for (int i = 0; i + 1 < pairs.length; i += 2) {
            fields.put((String) pairs[i], pairs[i + 1]);
        }
        emit(event, fields);
    }

    void emit(String event, Map<String, Object> fields) {
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("event", event);
        line.putAll(fields);
        String text;
        try {
            text = json.writeValueAsString(line);
        } catch (Exception e) {
            text = "{\"event\":\"error\",\"where\":\"emit\",\"message\":\"" + e.getClass().getName() + "\"}";
        }
        synchronized (out) {
            out.println(text);
        }
    }
}
