export { ALARM_RPC_QUEUE, type AlarmRpcDeps, createAlarmRpcHandler, toAlarmRecord } from './alarm-rpc.js';
export { type AlarmService, type AlarmServiceDeps, createAlarmService } from './alarm-service.js';
export { type AlarmServiceConfig, defaultRulesFile, loadConfig, type SmtpConfig } from './config.js';
export { type AlarmDecision, type ModelSnapshot, RuleEngine } from './engine/rule-engine.js';
export { type AlarmNotification, PermanentDeliveryError } from './notify/notification.js';
export { signWebhook, SIGNATURE_HEADER, TIMESTAMP_HEADER } from './notify/webhook.js';
export { compileRule, RuleValidationError } from './rules/compile-rule.js';
export { parseRuleFile, RuleFileError, resolveRules, type SensorProfile } from './rules/rule-set.js';
export type { Rule, RuleSet, RuleType } from './rules/rule-types.js';
