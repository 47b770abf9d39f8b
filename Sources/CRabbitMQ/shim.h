#ifndef ARMADA_CRABBITMQ_SHIM_H
#define ARMADA_CRABBITMQ_SHIM_H

// rabbitmq-c >= 0.12 moved its headers under rabbitmq-c/; Debian 12 ships 0.11 with flat names.
#if __has_include(<rabbitmq-c/amqp.h>)
#include <rabbitmq-c/amqp.h>
#include <rabbitmq-c/tcp_socket.h>
#include <rabbitmq-c/ssl_socket.h>
#else
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <amqp_ssl_socket.h>
#endif

// The I/O loop polls the broker socket together with an eventfd that wakes it for new requests;
// Glibc's Swift module does not export eventfd.
#include <sys/eventfd.h>
static inline int armada_eventfd_nonblocking(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

// amqp_login_with_properties is variadic, which Swift cannot call: a typed wrapper for SASL PLAIN
// with client properties: the connection's name (shown by the broker's tools) and the
// capability consumer_cancel_notify, without which RabbitMQ never tells a consumer that its
// queue was deleted or its leader moved (the consumer would silently stop receiving).
static inline amqp_rpc_reply_t armada_amqp_login_plain_notify(amqp_connection_state_t state, const char *vhost,
                                                              int channel_max, int frame_max, int heartbeat,
                                                              const char *connection_name, const char *user,
                                                              const char *password) {
    amqp_table_entry_t capabilities[1];
    capabilities[0].key = amqp_cstring_bytes("consumer_cancel_notify");
    capabilities[0].value.kind = AMQP_FIELD_KIND_BOOLEAN;
    capabilities[0].value.value.boolean = 1;
    amqp_table_entry_t properties[2];
    properties[0].key = amqp_cstring_bytes("capabilities");
    properties[0].value.kind = AMQP_FIELD_KIND_TABLE;
    properties[0].value.value.table.num_entries = 1;
    properties[0].value.value.table.entries = capabilities;
    properties[1].key = amqp_cstring_bytes("connection_name");
    properties[1].value.kind = AMQP_FIELD_KIND_UTF8;
    properties[1].value.value.bytes = amqp_cstring_bytes(connection_name);
    amqp_table_t table;
    table.num_entries = 2;
    table.entries = properties;
    return amqp_login_with_properties(state, vhost, channel_max, frame_max, heartbeat, &table, AMQP_SASL_METHOD_PLAIN,
                                      user, password);
}

// Method numbers are cast macros, which Swift does not import: re-exported as constants.
static const uint32_t armada_method_basic_deliver = AMQP_BASIC_DELIVER_METHOD;
static const uint32_t armada_method_basic_ack = AMQP_BASIC_ACK_METHOD;
static const uint32_t armada_method_basic_nack = AMQP_BASIC_NACK_METHOD;
static const uint32_t armada_method_basic_return = AMQP_BASIC_RETURN_METHOD;
static const uint32_t armada_method_basic_cancel = AMQP_BASIC_CANCEL_METHOD;
static const uint32_t armada_method_basic_get_ok = AMQP_BASIC_GET_OK_METHOD;
static const uint32_t armada_method_channel_close = AMQP_CHANNEL_CLOSE_METHOD;
static const uint32_t armada_method_channel_close_ok = AMQP_CHANNEL_CLOSE_OK_METHOD;
static const uint32_t armada_method_connection_close = AMQP_CONNECTION_CLOSE_METHOD;
static const uint32_t armada_method_connection_close_ok = AMQP_CONNECTION_CLOSE_OK_METHOD;

#endif
