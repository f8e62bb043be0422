#pragma once

// The OpenAPI 3.0 document of sluiced's HTTP API (served at /openapi.json). Kept next to api.hpp,
// whose routes it describes; tests/sluiced_api.sh checks that every route here answers.

#include <string_view>

namespace sluiced {

/// The document, as JSON.
inline constexpr std::string_view openapi_document = R"json({
  "openapi": "3.0.3",
  "info": {
    "title": "sluiced",
    "version": "1",
    "description": "The MiniFirehose API of sluiced: create firehoses (buffered sinks), add messages, read stats. Pipelines of the configuration file are addressed by their queue's name."
  },
  "servers": [{"url": "/"}],
  "components": {
    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    "schemas": {
      "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
      "Sink": {"type": "object", "properties": {
        "name": {"type": "string"}, "type": {"type": "string"}, "dead_letter": {"type": "string", "nullable": true},
        "delivered": {"type": "integer"}, "failed": {"type": "integer"},
        "last_error": {"type": "object", "nullable": true, "properties": {"message": {"type": "string"}, "at": {"type": "string", "format": "date-time"}}}}},
      "Pipeline": {"type": "object", "properties": {
        "name": {"type": "string"}, "kind": {"type": "string", "enum": ["pipeline", "firehose"]}, "queue": {"type": "string"},
        "sources": {"type": "array", "items": {"type": "string"}},
        "sinks": {"type": "array", "items": {"$ref": "#/components/schemas/Sink"}},
        "queue_stats": {"type": "object", "additionalProperties": {"type": "integer"}}}},
      "FirehoseDefinition": {"type": "object", "required": ["name", "sinks"], "properties": {
        "name": {"type": "string", "pattern": "^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$"},
        "sinks": {"type": "object", "description": "Sinks by name, each with the options of the configuration file's [sinks.NAME] table (type, and that type's options).", "additionalProperties": {"type": "object"}},
        "buffer_count_limit": {"type": "number", "description": "Records per batch or object."},
        "buffer_size_limit_mb": {"type": "number", "description": "MiB per batch or object."},
        "buffer_time_limit": {"type": "number", "description": "Seconds a batch or object stays open."}}},
      "DeliveryReport": {"type": "object", "properties": {
        "accepted": {"type": "integer"}, "failed": {"type": "integer"},
        "errors": {"type": "array", "items": {"type": "object", "properties": {"index": {"type": "integer"}, "sink": {"type": "string"}, "reason": {"type": "string"}}}}}}
    }
  },
  "security": [{"bearer": []}, {}],
  "paths": {
    "/minifirehoses": {
      "get": {"summary": "List pipelines and firehoses", "responses": {"200": {"description": "The pipelines", "content": {"application/json": {"schema": {"type": "object", "properties": {"minifirehoses": {"type": "array", "items": {"$ref": "#/components/schemas/Pipeline"}}}}}}}}},
      "post": {"summary": "Create a firehose", "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/FirehoseDefinition"}}}},
        "responses": {"201": {"description": "Created and started", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pipeline"}}}},
                      "400": {"description": "Invalid definition", "content": {"application/json": {"schema": {"type": "object", "properties": {"error": {"type": "string"}, "errors": {"type": "array", "items": {"type": "string"}}}}}}},
                      "409": {"description": "The name is taken", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}
    },
    "/minifirehoses/{name}": {
      "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
      "delete": {"summary": "Flush, stop and remove a firehose", "responses": {"200": {"description": "Deleted"}, "404": {"description": "No such firehose"}, "409": {"description": "A pipeline of the configuration file"}}}
    },
    "/minifirehoses/{name}/message": {
      "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}},
                     {"name": "wait", "in": "query", "schema": {"type": "boolean", "default": true}, "description": "false: answer 202 once queued"},
                     {"name": "key", "in": "query", "schema": {"type": "string"}, "description": "Selects key routes"},
                     {"name": "topic", "in": "query", "schema": {"type": "string"}, "description": "Selects topic routes"}],
      "post": {"summary": "Add one message (a JSON value), many (a JSON array) or NDJSON",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {}}, "application/x-ndjson": {"schema": {"type": "string"}}}},
        "responses": {"200": {"description": "Every message's outcome (failed counts messages some sink did not take)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DeliveryReport"}}}},
                      "202": {"description": "Queued (wait=false)"},
                      "400": {"description": "Not JSON", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                      "404": {"description": "No such pipeline"},
                      "415": {"description": "Unsupported Content-Type"},
                      "502": {"description": "The single message was not delivered", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DeliveryReport"}}}}}}
    },
    "/minifirehoses/{name}/stats": {
      "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
      "get": {"summary": "Counters of a pipeline and its sinks", "responses": {"200": {"description": "Stats", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pipeline"}}}}, "404": {"description": "No such pipeline"}}}
    },
    "/message": {
      "post": {"summary": "Add messages to this HTTP source's own queue", "requestBody": {"required": true, "content": {"application/json": {"schema": {}}, "application/x-ndjson": {"schema": {"type": "string"}}}},
        "responses": {"200": {"description": "Outcomes", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DeliveryReport"}}}}}}
    },
    "/health": {"get": {"summary": "Liveness", "security": [], "responses": {"200": {"description": "ok"}}}},
    "/metrics": {"get": {"summary": "Prometheus text format 0.0.4", "responses": {"200": {"description": "Metrics", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
    "/status.json": {"get": {"summary": "Pipelines, sinks, counters and last errors (the status page reads it)", "responses": {"200": {"description": "Status"}}}},
    "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3 document"}}}}
  }
})json";

} // namespace sluiced
