"""Typed subsets of the FHIR R4 resources the rules read (msgspec Structs: only those fields).

Unknown fields are skipped without building anything; a wrong JSON type in a field listed here
rejects that one resource. Dates stay strings here (FHIR allows partial dates) and are parsed,
and checked, where they are used (`service.adapters.fhir_time`). Every resource carries `ref`, its
canonical reference ("Observation/<id>", else its fullUrl), set by the decoder; it is never read
from the JSON. The Structs are `gc=False` and hold tuples: they never form reference cycles, and
leaving a patient's thousands of decoded fields out of the cyclic GC halves the decode time.
"""

from __future__ import annotations

from typing import Union

from msgspec import UNSET, Raw, Struct, UnsetType, defstruct, field


class Coding(Struct, gc=False, omit_defaults=True):
    system: str | None = None
    code: str | None = None
    display: str | None = None


class CodeableConcept(Struct, gc=False, omit_defaults=True):
    coding: tuple[Coding, ...] = ()
    text: str | None = None


class Reference(Struct, gc=False, omit_defaults=True):
    reference: str | None = None
    display: str | None = None


class Quantity(Struct, gc=False, omit_defaults=True):
    value: float | None = None
    comparator: str | None = None
    unit: str | None = None
    system: str | None = None
    code: str | None = None


class Period(Struct, gc=False, omit_defaults=True):
    start: str | None = None
    end: str | None = None


class Range(Struct, gc=False, omit_defaults=True):
    low: Quantity | None = None
    high: Quantity | None = None


class Meta(Struct, gc=False, omit_defaults=True, rename="camel"):
    last_updated: str | None = None


class ReferenceRange(Struct, gc=False, omit_defaults=True, rename="camel"):
    low: Quantity | None = None
    high: Quantity | None = None
    type: CodeableConcept | None = None
    applies_to: tuple[CodeableConcept, ...] = ()
    age: Range | None = None
    text: str | None = None


class ObservationComponent(Struct, gc=False, omit_defaults=True, rename="camel"):
    code: CodeableConcept | None = None
    value_quantity: Quantity | None = None
    data_absent_reason: CodeableConcept | None = None
    reference_range: tuple[ReferenceRange, ...] = ()
    interpretation: tuple[CodeableConcept, ...] = ()


class Resource(Struct, gc=False, omit_defaults=True, rename="camel", tag_field="resourceType", tag=True):
    """Tagged by resourceType (the class name), so that a union of resources decodes in one call."""

    id: str | None = None
    ref: str = field(default="", name="_osteoalertRef")

    @property
    def resource_type(self) -> str:
        return type(self).__name__


class Patient(Resource):
    gender: str | None = None
    birth_date: str | None = None
    deceased_boolean: bool | None = None
    deceased_date_time: str | None = None


class Observation(Resource):
    meta: Meta | None = None
    status: str | None = None
    code: CodeableConcept | None = None
    subject: Reference | None = None
    effective_date_time: str | None = None
    effective_period: Period | None = None
    effective_instant: str | None = None
    issued: str | None = None
    value_quantity: Quantity | None = None
    data_absent_reason: CodeableConcept | None = None
    reference_range: tuple[ReferenceRange, ...] = ()
    interpretation: tuple[CodeableConcept, ...] = ()
    body_site: CodeableConcept | None = None
    specimen: Reference | None = None
    component: tuple[ObservationComponent, ...] = ()


class DiagnosticReport(Resource):
    status: str | None = None
    code: CodeableConcept | None = None
    subject: Reference | None = None
    effective_date_time: str | None = None
    effective_period: Period | None = None
    issued: str | None = None
    result: tuple[Reference, ...] = ()


class Condition(Resource):
    clinical_status: CodeableConcept | None = None
    verification_status: CodeableConcept | None = None
    code: CodeableConcept | None = None
    subject: Reference | None = None
    onset_date_time: str | None = None
    onset_period: Period | None = None
    recorded_date: str | None = None


class Procedure(Resource):
    status: str | None = None
    code: CodeableConcept | None = None
    subject: Reference | None = None
    performed_date_time: str | None = None
    performed_period: Period | None = None


class MedicationIngredient(Struct, gc=False, omit_defaults=True, rename="camel"):
    item_codeable_concept: CodeableConcept | None = None


class Medication(Resource):
    code: CodeableConcept | None = None
    form: CodeableConcept | None = None
    ingredient: tuple[MedicationIngredient, ...] = ()


class TimingRepeat(Struct, gc=False, omit_defaults=True, rename="camel"):
    bounds_period: Period | None = None
    bounds_duration: Quantity | None = None
    frequency: int | None = None
    period: float | None = None
    period_unit: str | None = None
    day_of_week: tuple[str, ...] = ()


class Timing(Struct, gc=False, omit_defaults=True):
    repeat: TimingRepeat | None = None
    code: CodeableConcept | None = None


class DoseAndRate(Struct, gc=False, omit_defaults=True, rename="camel"):
    dose_quantity: Quantity | None = None


class Dosage(Struct, gc=False, omit_defaults=True, rename="camel"):
    text: str | None = None
    timing: Timing | None = None
    route: CodeableConcept | None = None
    dose_and_rate: tuple[DoseAndRate, ...] = ()


class DispenseRequest(Struct, gc=False, omit_defaults=True, rename="camel"):
    validity_period: Period | None = None
    number_of_repeats_allowed: int | None = None
    expected_supply_duration: Quantity | None = None


class _MedicationUse(Resource):
    """Fields shared by MedicationRequest/Statement/Administration; `contained` kept raw."""

    status: str | None = None
    medication_codeable_concept: CodeableConcept | None = None
    medication_reference: Reference | None = None
    subject: Reference | None = None
    contained: tuple[Raw, ...] = ()


class MedicationRequest(_MedicationUse):
    intent: str | None = None
    do_not_perform: bool | None = None
    authored_on: str | None = None
    dosage_instruction: tuple[Dosage, ...] = ()
    dispense_request: DispenseRequest | None = None


class MedicationStatement(_MedicationUse):
    effective_date_time: str | None = None
    effective_period: Period | None = None
    date_asserted: str | None = None
    dosage: tuple[Dosage, ...] = ()


class AdministrationDosage(Struct, gc=False, omit_defaults=True):
    text: str | None = None
    route: CodeableConcept | None = None
    dose: Quantity | None = None


class MedicationAdministration(_MedicationUse):
    effective_date_time: str | None = None
    effective_period: Period | None = None
    dosage: AdministrationDosage | None = None


MedicationUse = MedicationRequest | MedicationStatement | MedicationAdministration


class Entry(Struct, gc=False, omit_defaults=True, rename="camel"):
    full_url: str | None = None
    resource: AnyResource | UnsetType = UNSET


class Bundle(Resource):
    entry: tuple[Entry, ...] = ()


# Every other FHIR R4/R4B resource type: decoded as an empty Struct, i.e. skipped without building
# anything. A type missing here only sends the input down the slower per-resource path.
_OTHER_TYPES = (
    "Account ActivityDefinition AdministrableProductDefinition AdverseEvent AllergyIntolerance "
    "Appointment AppointmentResponse AuditEvent Basic Binary BiologicallyDerivedProduct "
    "BodyStructure CapabilityStatement CarePlan CareTeam CatalogEntry ChargeItem "
    "ChargeItemDefinition Citation Claim ClaimResponse ClinicalImpression ClinicalUseDefinition "
    "CodeSystem Communication CommunicationRequest CompartmentDefinition Composition ConceptMap "
    "Consent Contract Coverage CoverageEligibilityRequest CoverageEligibilityResponse "
    "DetectedIssue Device DeviceDefinition DeviceMetric DeviceRequest DeviceUseStatement "
    "DocumentManifest DocumentReference EffectEvidenceSynthesis Encounter Endpoint "
    "EnrollmentRequest EnrollmentResponse EpisodeOfCare EventDefinition Evidence EvidenceReport "
    "EvidenceVariable ExampleScenario ExplanationOfBenefit FamilyMemberHistory Flag Goal "
    "GraphDefinition Group GuidanceResponse HealthcareService ImagingStudy Immunization "
    "ImmunizationEvaluation ImmunizationRecommendation ImplementationGuide Ingredient "
    "InsurancePlan Invoice Library Linkage List Location ManufacturedItemDefinition Measure "
    "MeasureReport Media MedicationDispense MedicationKnowledge MedicinalProduct "
    "MedicinalProductAuthorization MedicinalProductContraindication MedicinalProductDefinition "
    "MedicinalProductIndication MedicinalProductIngredient MedicinalProductInteraction "
    "MedicinalProductManufactured MedicinalProductPackaged MedicinalProductPharmaceutical "
    "MedicinalProductUndesirableEffect MessageDefinition MessageHeader MolecularSequence "
    "NamingSystem NutritionOrder NutritionProduct ObservationDefinition OperationDefinition "
    "OperationOutcome Organization OrganizationAffiliation PackagedProductDefinition Parameters "
    "PaymentNotice PaymentReconciliation Person PlanDefinition Practitioner PractitionerRole "
    "Provenance Questionnaire QuestionnaireResponse RegulatedAuthorization RelatedPerson "
    "RequestGroup ResearchDefinition ResearchElementDefinition ResearchStudy ResearchSubject "
    "RiskAssessment RiskEvidenceSynthesis Schedule SearchParameter ServiceRequest Slot Specimen "
    "SpecimenDefinition StructureDefinition StructureMap Subscription SubscriptionStatus "
    "SubscriptionTopic Substance SubstanceDefinition SubstanceNucleicAcid SubstancePolymer "
    "SubstanceProtein SubstanceReferenceInformation SubstanceSourceMaterial "
    "SubstanceSpecification SupplyDelivery SupplyRequest Task TerminologyCapabilities TestReport "
    "TestScript ValueSet VerificationResult VisionPrescription"
)
OTHER_TYPES = tuple(_OTHER_TYPES.split())
_SKIPPED = tuple(defstruct(name, [], bases=(Resource,)) for name in OTHER_TYPES)

TYPES: dict[str, type[Resource]] = {
    "Patient": Patient,
    "Observation": Observation,
    "DiagnosticReport": DiagnosticReport,
    "Condition": Condition,
    "Procedure": Procedure,
    "Medication": Medication,
    "MedicationRequest": MedicationRequest,
    "MedicationStatement": MedicationStatement,
    "MedicationAdministration": MedicationAdministration,
}


AnyResource = Union[  # a runtime union of many Struct types
    Patient,
    Observation,
    DiagnosticReport,
    Condition,
    Procedure,
    Medication,
    MedicationRequest,
    MedicationStatement,
    MedicationAdministration,
    Bundle,
    *_SKIPPED,  # type: ignore[valid-type]
]


class Head(Struct, gc=False, rename="camel"):
    """The two fields the decoder peeks at when the bytes do not start with resourceType."""

    resource_type: str | None = None
    id: str | None = None
