import { messageSchemas } from '../src/intake/validator.js';
import type { MessageType } from '../src/messages/registry.js';
import { readSchema } from '../src/package-files.js';

export const NGSP_NAMESPACE = 'urn:lienthong:ngsp:v1';

type JsonSchema = {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  description?: string;
  title?: string;
};

const common = readSchema<{ $defs: Record<string, JsonSchema> }>('common.schema.json');

function resolve(schema: JsonSchema): JsonSchema {
  const ref = schema.$ref;
  if (!ref) return schema;
  const name = /^common#\/\$defs\/(.+)$/.exec(ref)?.[1] ?? /^#\/\$defs\/(.+)$/.exec(ref)?.[1];
  const target = name ? common.$defs[name] : undefined;
  if (!target) throw new Error(`cannot resolve ${ref} for the WSDL`);
  return resolve(target);
}

/**
 * XSD for one JSON Schema object. Every leaf is xsd:string on purpose: the XML carries text, and the
 * one ajv validator behind all three doors coerces and checks it, so SOAP can never accept what
 * REST would refuse. Generated from `schemas/` at start, the WSDL cannot drift from them.
 */
function complexType(schema: JsonSchema, indent: string): string {
  const required = new Set(schema.required ?? []);
  const elements = Object.entries(schema.properties ?? {}).map(([name, raw]) => {
    const property = resolve(raw);
    const minOccurs = required.has(name) ? '1' : '0';
    const isList = property.type === 'array';
    const item = isList && property.items ? resolve(property.items) : property;
    const maxOccurs = isList ? ' maxOccurs="unbounded"' : '';
    if (item.type === 'object') {
      return `${indent}<xsd:element name="${name}" minOccurs="${minOccurs}"${maxOccurs}>\n${indent}  <xsd:complexType>\n${complexType(item, `${indent}    `)}\n${indent}  </xsd:complexType>\n${indent}</xsd:element>`;
    }
    return `${indent}<xsd:element name="${name}" type="xsd:string" minOccurs="${minOccurs}"${maxOccurs}/>`;
  });
  return `${indent}<xsd:all>\n${elements.join('\n')}\n${indent}</xsd:all>`;
}

export interface SoapOperation {
  name: string;
  /** The message type it carries, its Body's element, which also gives the operation its body limit. */
  input: MessageType;
}

export const SOAP_OPERATIONS: SoapOperation[] = [
  { name: 'GuiKhaiSinh', input: 'KhaiSinh' },
  { name: 'GuiKhaiTu', input: 'KhaiTu' },
  { name: 'GuiHoSoMotCua', input: 'HoSoMotCua' },
  { name: 'GuiCapLaiThe', input: 'CapLaiThe' },
];

export function buildWsdl(location: string): string {
  const types = SOAP_OPERATIONS.map(({ name, input }) => {
    const schema = messageSchemas[input] as JsonSchema;
    return `      <xsd:element name="${input}">
        <xsd:complexType>
${complexType(schema, '          ')}
        </xsd:complexType>
      </xsd:element>
      <xsd:element name="${name}Response">
        <xsd:complexType>
          <xsd:all>
            <xsd:element name="transferId" type="xsd:string"/>
            <xsd:element name="messageId" type="xsd:string"/>
            <xsd:element name="status" type="xsd:string"/>
            <xsd:element name="hanTra" type="xsd:string" minOccurs="0"/>
          </xsd:all>
        </xsd:complexType>
      </xsd:element>`;
  }).join('\n');
  const messages = SOAP_OPERATIONS.map(({ name, input }) => `  <message name="${name}Request"><part name="parameters" element="tns:${input}"/></message>
  <message name="${name}Response"><part name="parameters" element="tns:${name}Response"/></message>`).join('\n');
  const portOperations = SOAP_OPERATIONS.map(({ name }) => `    <operation name="${name}"><input message="tns:${name}Request"/><output message="tns:${name}Response"/></operation>`).join('\n');
  const bindingOperations = SOAP_OPERATIONS.map(({ name }) => `    <operation name="${name}">
      <soap:operation soapAction="${NGSP_NAMESPACE}#${name}" style="document"/>
      <input><soap:body use="literal"/></input>
      <output><soap:body use="literal"/></output>
    </operation>`).join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>
<definitions name="NgspService" targetNamespace="${NGSP_NAMESPACE}"
  xmlns="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
  xmlns:tns="${NGSP_NAMESPACE}" xmlns:xsd="http://www.w3.org/2001/XMLSchema">
  <types>
    <xsd:schema targetNamespace="${NGSP_NAMESPACE}" elementFormDefault="qualified">
${types}
    </xsd:schema>
  </types>
${messages}
  <portType name="NgspPortType">
${portOperations}
  </portType>
  <binding name="NgspBinding" type="tns:NgspPortType">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
${bindingOperations}
  </binding>
  <service name="NgspService">
    <port name="NgspPort" binding="tns:NgspBinding"><soap:address location="${location}"/></port>
  </service>
</definitions>
`;
}
