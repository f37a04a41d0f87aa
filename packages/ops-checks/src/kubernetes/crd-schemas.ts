/**
 * Focused JSON schemas for the two operator resources no npm package ships a
 * schema for: RabbitmqCluster (RabbitMQ Cluster Operator, rabbitmq.com/v1beta1)
 * and Cluster (CloudNativePG, postgresql.cnpg.io/v1). They cover the fields
 * this repository uses, with the operators' types, and refuse unknown fields
 * at those levels (a typo is caught rather than ignored).
 */

const quantity = { anyOf: [{ type: 'string', pattern: '^[0-9.]+([KMGTPE]i?|m)?$' }, { type: 'integer' }] };
const resources = {
  type: 'object',
  additionalProperties: false,
  properties: {
    requests: { type: 'object', additionalProperties: quantity },
    limits: { type: 'object', additionalProperties: quantity },
  },
};
const metadata = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 } },
};

export const rabbitmqClusterSchema = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: { const: 'rabbitmq.com/v1beta1' },
    kind: { const: 'RabbitmqCluster' },
    metadata,
    spec: {
      type: 'object',
      additionalProperties: false,
      properties: {
        replicas: { type: 'integer', minimum: 0 },
        image: { type: 'string' },
        imagePullSecrets: { type: 'array' },
        service: {
          type: 'object',
          additionalProperties: false,
          properties: {
            type: { enum: ['ClusterIP', 'LoadBalancer', 'NodePort'] },
            annotations: { type: 'object' },
            ipFamilyPolicy: { type: 'string' },
          },
        },
        persistence: {
          type: 'object',
          additionalProperties: false,
          properties: { storageClassName: { type: 'string' }, storage: quantity },
        },
        resources,
        affinity: { type: 'object' },
        tolerations: { type: 'array' },
        terminationGracePeriodSeconds: { type: 'integer', minimum: 0 },
        delayStartSeconds: { type: 'integer', minimum: 0 },
        skipPostDeploySteps: { type: 'boolean' },
        autoEnableAllFeatureFlags: { type: 'boolean' },
        tls: { type: 'object' },
        secretBackend: { type: 'object' },
        rabbitmq: {
          type: 'object',
          additionalProperties: false,
          properties: {
            additionalPlugins: {
              type: 'array',
              maxItems: 100,
              items: { type: 'string', pattern: '^\\w+$', maxLength: 100 },
            },
            additionalConfig: { type: 'string', maxLength: 2000 },
            advancedConfig: { type: 'string', maxLength: 100000 },
            envConfig: { type: 'string', maxLength: 100000 },
            erlangInetConfig: { type: 'string', maxLength: 2000 },
          },
        },
        override: {
          type: 'object',
          additionalProperties: false,
          properties: { statefulSet: { type: 'object' }, service: { type: 'object' } },
        },
      },
    },
  },
} as const;

const stringMap = { type: 'object', additionalProperties: { type: 'string' } };
const localRef = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: { name: { type: 'string' } },
};

const secretKeyRef = {
  type: 'object',
  required: ['name', 'key'],
  additionalProperties: false,
  properties: { name: { type: 'string' }, key: { type: 'string' } },
};
const compression = { enum: ['gzip', 'bzip2', 'snappy', 'lz4', 'xz', 'zstd'] };
/** CloudNativePG's in-tree barman-cloud object store (Cluster backup and externalClusters). */
const barmanObjectStore = {
  type: 'object',
  required: ['destinationPath'],
  additionalProperties: false,
  properties: {
    destinationPath: { type: 'string', pattern: '^(s3|gs|https?)://' },
    endpointURL: { type: 'string' },
    serverName: { type: 'string' },
    endpointCA: secretKeyRef,
    s3Credentials: {
      type: 'object',
      additionalProperties: false,
      properties: {
        accessKeyId: secretKeyRef,
        secretAccessKey: secretKeyRef,
        region: secretKeyRef,
        sessionToken: secretKeyRef,
        inheritFromIAMRole: { type: 'boolean' },
      },
    },
    azureCredentials: { type: 'object' },
    googleCredentials: { type: 'object' },
    wal: {
      type: 'object',
      additionalProperties: false,
      properties: {
        compression,
        encryption: { enum: ['AES256', 'aws:kms'] },
        maxParallel: { type: 'integer', minimum: 1 },
      },
    },
    data: {
      type: 'object',
      additionalProperties: false,
      properties: {
        compression,
        encryption: { enum: ['AES256', 'aws:kms'] },
        jobs: { type: 'integer', minimum: 1 },
        immediateCheckpoint: { type: 'boolean' },
      },
    },
    tags: stringMap,
    historyTags: stringMap,
  },
};

export const cnpgClusterSchema = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: { const: 'postgresql.cnpg.io/v1' },
    kind: { const: 'Cluster' },
    metadata,
    spec: {
      type: 'object',
      required: ['instances', 'storage'],
      additionalProperties: false,
      properties: {
        description: { type: 'string' },
        instances: { type: 'integer', minimum: 1 },
        imageName: { type: 'string' },
        imagePullPolicy: { enum: ['Always', 'Never', 'IfNotPresent'] },
        imagePullSecrets: { type: 'array' },
        primaryUpdateStrategy: { enum: ['unsupervised', 'supervised'] },
        primaryUpdateMethod: { enum: ['switchover', 'restart'] },
        enableSuperuserAccess: { type: 'boolean' },
        superuserSecret: localRef,
        postgresql: {
          type: 'object',
          additionalProperties: false,
          properties: {
            // CloudNativePG's parameters are map[string]string: numbers must be quoted
            parameters: stringMap,
            shared_preload_libraries: { type: 'array', items: { type: 'string' } },
            pg_hba: { type: 'array', items: { type: 'string' } },
            pg_ident: { type: 'array', items: { type: 'string' } },
          },
        },
        bootstrap: {
          type: 'object',
          additionalProperties: false,
          properties: {
            initdb: {
              type: 'object',
              additionalProperties: false,
              properties: {
                database: { type: 'string' },
                owner: { type: 'string' },
                secret: localRef,
                encoding: { type: 'string' },
                localeCollate: { type: 'string' },
                localeCType: { type: 'string' },
                dataChecksums: { type: 'boolean' },
                postInitSQL: { type: 'array', items: { type: 'string' } },
                postInitApplicationSQL: { type: 'array', items: { type: 'string' } },
                postInitTemplateSQL: { type: 'array', items: { type: 'string' } },
              },
            },
            recovery: {
              type: 'object',
              additionalProperties: false,
              properties: {
                source: { type: 'string' },
                backup: localRef,
                database: { type: 'string' },
                owner: { type: 'string' },
                secret: localRef,
                recoveryTarget: {
                  type: 'object',
                  additionalProperties: false,
                  properties: {
                    targetTime: { type: 'string' },
                    targetLSN: { type: 'string' },
                    targetName: { type: 'string' },
                    targetXID: { type: 'string' },
                    targetImmediate: { type: 'boolean' },
                    targetTLI: { type: 'string' },
                    exclusive: { type: 'boolean' },
                    backupID: { type: 'string' },
                  },
                },
              },
            },
            pg_basebackup: { type: 'object' },
          },
        },
        storage: {
          type: 'object',
          additionalProperties: false,
          properties: { size: quantity, storageClass: { type: 'string' }, pvcTemplate: { type: 'object' } },
        },
        walStorage: { type: 'object' },
        resources,
        affinity: { type: 'object' },
        monitoring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            enablePodMonitor: { type: 'boolean' },
            customQueriesConfigMap: { type: 'array' },
            customQueriesSecret: { type: 'array' },
          },
        },
        backup: {
          type: 'object',
          additionalProperties: false,
          properties: {
            // e.g. 30d, 4w, 12m (CloudNativePG: ^[1-9][0-9]*[dwm]$)
            retentionPolicy: { type: 'string', pattern: '^[1-9][0-9]*[dwm]$' },
            barmanObjectStore,
            volumeSnapshot: { type: 'object' },
            target: { enum: ['primary', 'prefer-standby'] },
          },
        },
        externalClusters: {
          type: 'array',
          items: {
            type: 'object',
            required: ['name'],
            additionalProperties: false,
            properties: {
              name: { type: 'string' },
              connectionParameters: stringMap,
              barmanObjectStore,
              password: secretKeyRef,
            },
          },
        },
        managed: { type: 'object' },
      },
    },
  },
} as const;

export const cnpgScheduledBackupSchema = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: { const: 'postgresql.cnpg.io/v1' },
    kind: { const: 'ScheduledBackup' },
    metadata,
    spec: {
      type: 'object',
      required: ['schedule', 'cluster'],
      additionalProperties: false,
      properties: {
        // six fields: CloudNativePG's cron has seconds first
        schedule: { type: 'string', pattern: '^\\S+( \\S+){5}$' },
        cluster: localRef,
        immediate: { type: 'boolean' },
        suspend: { type: 'boolean' },
        backupOwnerReference: { enum: ['none', 'self', 'cluster'] },
        method: { enum: ['barmanObjectStore', 'volumeSnapshot', 'plugin'] },
        target: { enum: ['primary', 'prefer-standby'] },
        online: { type: 'boolean' },
      },
    },
  },
} as const;

/** cert-manager (cert-manager.io/v1): the Issuer kinds and Certificate fields deploy/ uses. */
const issuerRef = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string' },
    kind: { enum: ['Issuer', 'ClusterIssuer'] },
    group: { const: 'cert-manager.io' },
  },
};

export const certManagerIssuerSchema = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: { const: 'cert-manager.io/v1' },
    kind: { enum: ['Issuer', 'ClusterIssuer'] },
    metadata,
    spec: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      maxProperties: 1,
      properties: {
        selfSigned: { type: 'object' },
        ca: {
          type: 'object',
          additionalProperties: false,
          required: ['secretName'],
          properties: { secretName: { type: 'string' } },
        },
        acme: { type: 'object' },
        vault: { type: 'object' },
      },
    },
  },
};

export const certManagerCertificateSchema = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: { const: 'cert-manager.io/v1' },
    kind: { const: 'Certificate' },
    metadata,
    spec: {
      type: 'object',
      additionalProperties: false,
      required: ['secretName', 'issuerRef'],
      properties: {
        secretName: { type: 'string' },
        issuerRef,
        isCA: { type: 'boolean' },
        commonName: { type: 'string', maxLength: 64 },
        dnsNames: { type: 'array', items: { type: 'string' } },
        ipAddresses: { type: 'array', items: { type: 'string' } },
        duration: { type: 'string', pattern: '^([0-9.]+(h|m|s))+$' },
        renewBefore: { type: 'string', pattern: '^([0-9.]+(h|m|s))+$' },
        usages: {
          type: 'array',
          items: {
            enum: [
              'digital signature',
              'key encipherment',
              'server auth',
              'client auth',
              'cert sign',
              'crl sign',
            ],
          },
        },
        privateKey: {
          type: 'object',
          additionalProperties: false,
          properties: {
            algorithm: { enum: ['RSA', 'ECDSA', 'Ed25519'] },
            size: { type: 'integer' },
            rotationPolicy: { enum: ['Never', 'Always'] },
          },
        },
      },
    },
  },
};
